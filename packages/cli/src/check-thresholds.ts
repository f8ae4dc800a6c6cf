import type { CheckThresholds } from '@cmq/actions';
import { pingerFile } from '@cmq/config';
import { type Env, loadConfigFile } from './config-set';

/** The `check.*` keys and `pinger.interval` of `pinger.properties` (ConfigError: exit 78). */
export function loadCheckThresholds(dirOption: string | undefined, env: Env): CheckThresholds {
  const value = loadConfigFile(dirOption, env, pingerFile());
  return {
    canaryWarningMs: value.check.canary_warning,
    canaryCriticalMs: value.check.canary_critical,
    oldestWarningS: value.check.oldest_warning / 1000,
    oldestCriticalS: value.check.oldest_critical / 1000,
    summaryMaxAgeMs: value.check.summary_max_age,
    pingerIntervalMs: value.pinger.interval,
  };
}

export type { CheckThresholds };
