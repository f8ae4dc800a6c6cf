import { type CheckThresholds, checkThresholdsOf } from '@cmq/actions';
import { pingerFile } from '@cmq/config';
import { type Env, loadConfigFile } from './config-set';

/** The `check.*` keys and `pinger.interval` of `pinger.properties` (ConfigError: exit 78). */
export function loadCheckThresholds(dirOption: string | undefined, env: Env): CheckThresholds {
  return checkThresholdsOf(loadConfigFile(dirOption, env, pingerFile()));
}

export type { CheckThresholds };
