import { type LoadedFile, loadFiles } from '@cmq/common';
import { type PingerConfig, pingerFile } from '@cmq/pinger';
import { type Env, configDir } from './config-set';

/** What `cmq check` compares against, in milliseconds (ages in seconds, as the summary has them). */
export interface CheckThresholds {
  canaryWarningMs: number;
  canaryCriticalMs: number;
  oldestWarningS: number;
  oldestCriticalS: number;
  summaryMaxAgeMs: number;
  pingerIntervalMs: number;
}

/** The `check.*` and `pinger.*` keys of pinger.properties, present once the pinger's schema has them. */
interface CheckKeys {
  check?: { canary_warning?: number; canary_critical?: number; oldest_warning?: number; oldest_critical?: number; summary_max_age?: number };
  pinger?: { interval?: number };
}

/**
 * Thresholds from `pinger.properties` (ConfigError: exit 78); the documented defaults
 * (2 s, 10 s, 60 s, 300 s, 30 s, 10 s) for keys the pinger's schema does not have.
 */
export function loadCheckThresholds(dirOption: string | undefined, env: Env): CheckThresholds {
  const dir = configDir(dirOption, env);
  const spec = pingerFile();
  const value = (loadFiles(dir, [spec], env).get(spec.file) as LoadedFile<PingerConfig & CheckKeys>).value;
  const check = value.check ?? {};
  return {
    canaryWarningMs: check.canary_warning ?? 2_000,
    canaryCriticalMs: check.canary_critical ?? 10_000,
    oldestWarningS: (check.oldest_warning ?? 60_000) / 1000,
    oldestCriticalS: (check.oldest_critical ?? 300_000) / 1000,
    summaryMaxAgeMs: check.summary_max_age ?? 30_000,
    pingerIntervalMs: value.pinger?.interval ?? 10_000,
  };
}
