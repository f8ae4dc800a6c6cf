import type { Mode, Provider } from '@cmq/actions';
import { provisioningFile } from '@cmq/common';
import { type Env, loadConfigFile } from './config-set';

/** provisioning.cfg `mode` of the configuration directory (ConfigError: exit 78). */
export function loadMode(dirOption: string | undefined, env: Env): Mode {
  return loadConfigFile(dirOption, env, provisioningFile).mode;
}

/** provisioning.cfg `cloud.default_provider`: the provider of accounts added without --provider. */
export function loadDefaultProvider(dirOption: string | undefined, env: Env): Provider {
  return loadConfigFile(dirOption, env, provisioningFile).cloud.default_provider;
}
