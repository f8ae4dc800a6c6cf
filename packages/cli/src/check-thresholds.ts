import { type LoadedFile, loadFiles } from '@cmq/common';
import { type PingerConfig, pingerFile } from '@cmq/pinger';
import { type Env, configDir } from './config-set';

/** What `cmq check` compares against: times in ms, ages in seconds (as the summary has them). */
export interface CheckThresholds {
  canaryWarningMs: number;
  canaryCriticalMs: number;
  oldestWarningS: number;
  oldestCriticalS: number;
  summaryMaxAgeMs: number;
  pingerIntervalMs: number;
}

/** The `check.*` keys and `pinger.interval` of `pinger.properties` (ConfigError: exit 78). */
export function loadCheckThresholds(dirOption: string | undefined, env: Env): CheckThresholds {
  const spec = pingerFile();
  const value = (loadFiles(configDir(dirOption, env), [spec], env).get(spec.file) as LoadedFile<PingerConfig>).value;
  return {
    canaryWarningMs: value.check.canary_warning,
    canaryCriticalMs: value.check.canary_critical,
    oldestWarningS: value.check.oldest_warning / 1000,
    oldestCriticalS: value.check.oldest_critical / 1000,
    summaryMaxAgeMs: value.check.summary_max_age,
    pingerIntervalMs: value.pinger.interval,
  };
}
