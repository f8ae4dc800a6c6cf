import type { Mode } from '@cmq/actions';
import { type LoadedFile, type ProvisioningConfig, loadFiles, provisioningFile } from '@cmq/common';
import { type Env, configDir } from './config-set';

/** provisioning.cfg `mode` of the configuration directory (ConfigError: exit 78). */
export function loadMode(dirOption: string | undefined, env: Env): Mode {
  return (loadFiles(configDir(dirOption, env), [provisioningFile], env).get(provisioningFile.file) as LoadedFile<ProvisioningConfig>).value.mode;
}
