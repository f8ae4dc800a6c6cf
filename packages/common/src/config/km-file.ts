import type { FileSpec } from './file-spec';
import { optionalPath, text } from './formats';
import { checkKeysFile } from './referenced-files';

export interface KmConfig {
  km: { keys_file: string; active_key_id: string };
}

export const kmFile: FileSpec<KmConfig> = {
  file: 'km-client.cfg',
  title: 'Key management: the keys that encrypt cloud credentials and SSH keys at rest.',
  envPrefix: 'CMQ_',
  schema: {
    km: {
      keys_file: {
        doc: 'File of encryption keys, one "id=base64 of 32 random bytes" per line; readable by the cmq user only. Must exist, parse and hold km.active_key_id at start.',
        format: optionalPath,
        default: '',
      },
      active_key_id: {
        doc: 'Id of the key that encrypts new secrets; older ids keep decrypting until rotation is done.',
        format: text,
        default: '',
      },
    },
  },
  crossCheck: (v) =>
    v.km.keys_file !== '' && v.km.active_key_id === ''
      ? [['km.active_key_id', 'must be set when km.keys_file is set']]
      : [],
  checkFiles: (v) => checkKeysFile(v.km),
};
