import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CmqError } from '@cmq/common';
import { checkCredentials } from './accounts';

/**
 * A fresh ed25519 key pair for a local account, as its credentials JSON: made by ssh-keygen in a
 * private temporary directory that is removed at once (the private key leaves it only to be
 * encrypted). `accounts add|rotate` and the console's account forms use it when no pair is given.
 * @throws CmqError CMQ_ERR_ACCOUNT when ssh-keygen is missing or fails.
 */
export function generateLocalCredentials(tenant: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cmq-account-key-'));
  try {
    chmodSync(dir, 0o700);
    const path = join(dir, 'id_ed25519');
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `cmq-account-${tenant}`, '-f', path], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CmqError(
        'CMQ_ERR_ACCOUNT',
        `cannot generate a key pair with ssh-keygen: ${code === 'ENOENT' ? 'ssh-keygen not found (install openssh-client)' : 'it failed'}; or give the key pair`,
      );
    }
    return checkCredentials(
      'local',
      JSON.stringify({
        ssh_private_key: readFileSync(path, 'utf8'),
        ssh_public_key: readFileSync(`${path}.pub`, 'utf8').trim(),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
