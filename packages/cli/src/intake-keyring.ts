import { Keyring, kmFile } from '@cmq/common';
import { type Env, loadConfigFile } from './config-set';

/**
 * The keyring of km-client.cfg for `cmq call`, read only when a request has secret arguments
 * (intake asks for it then); undefined when km.keys_file is unset.
 */
export function intakeKeyring(dirOption: string | undefined, env: Env): () => Keyring | undefined {
  return () => {
    const { km } = loadConfigFile(dirOption, env, kmFile);
    return km.keys_file === '' ? undefined : Keyring.fromConfig(km);
  };
}
