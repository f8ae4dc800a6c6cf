import { Keyring, kmFile } from '@cmq/common';
import { type Env, loadConfigFile } from './config-set';

/**
 * The keyring of km-client.cfg for `cmq call`, read only when a request has secret arguments
 * (intake asks for it then); undefined when km.keys_file is unset.
 */
export function intakeKeyring(dirOption: string | undefined, env: Env): () => Keyring | undefined {
  return () => Keyring.ifSet(loadConfigFile(dirOption, env, kmFile).km);
}
