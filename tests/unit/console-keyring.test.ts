import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyLine } from '@cmq/common';
import type { ConsoleContext } from '@cmq/console/src/context';
import { consoleKeyring } from '@cmq/console/src/acts/act-common';
import { tempDir } from '../helpers/config-dir';

/** Only `config.km` is read: the rest of the context is not built. */
function ctxWith(km: { keys_file: string; active_key_id: string }): ConsoleContext {
  return { config: { km } } as unknown as ConsoleContext;
}

/** The problem the form would show, or '' when there is a keyring. */
function problemOf(km: { keys_file: string; active_key_id: string }): string {
  const ring = consoleKeyring(ctxWith(km));
  return 'problem' in ring ? ring.problem : '';
}

/** The console forms' one keyring lookup (node and guest keys, account credentials). */
describe('consoleKeyring', () => {
  it('without km.keys_file: a problem naming the settings to set, in km-client.cfg', () => {
    expect(problemOf({ keys_file: '', active_key_id: '' })).toBe(
      'the console has no keyring (km.keys_file is unset in km-client.cfg): set it and km.active_key_id to store keys and credentials from here',
    );
  });

  it('an unreadable keys file or an unknown active key: the keyring error, naming the setting', () => {
    expect(problemOf({ keys_file: '/nonexistent/km.keys', active_key_id: 'k1' })).toBe(
      "the console's keyring is unusable: cannot read km.keys_file /nonexistent/km.keys: ENOENT",
    );
    const file = join(tempDir(), 'km.keys');
    writeFileSync(file, `${generateKeyLine('k1')}\n`);
    expect(problemOf({ keys_file: file, active_key_id: 'k2' })).toMatch(
      /^the console's keyring is unusable: km\.active_key_id "k2" is not in /,
    );
  });

  it('a usable keyring: returned, its active key the configured one', () => {
    const file = join(tempDir(), 'km.keys');
    writeFileSync(file, `${generateKeyLine('k1')}\n`);
    const ring = consoleKeyring(ctxWith({ keys_file: file, active_key_id: 'k1' }));
    if (!('keyring' in ring)) throw new Error(ring.problem);
    expect(ring.keyring.activeKeyId).toBe('k1');
  });
});
