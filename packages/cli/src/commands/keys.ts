import { closeSync, constants, fchmodSync, openSync, writeSync } from 'node:fs';
import { rotateSecrets } from '@cmq/actions';
import { CmqError, generateKeyLine } from '@cmq/common';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { failure } from '../command-error';
import { type Env } from '../config-set';
import { withConfigDir } from '../options';
import { loadKeyring } from './guests';

/**
 * `cmq keys rotate`: re-encrypts every stored secret under km.active_key_id in one transaction
 * (the old keys must stay in km.keys_file until it has run).
 */
async function rotate(opts: { configDir?: string }, env: Env): Promise<void> {
  const keyring = loadKeyring(opts.configDir, env);
  const counts = await withDatabase(opts.configDir, env, ({ transaction }) =>
    transaction((sql) =>
      rotateSecrets(sql, keyring.activeKeyId, (ciphertext) => {
        const plain = keyring.decrypt(ciphertext);
        try {
          return keyring.encrypt(plain);
        } finally {
          plain.fill(0);
        }
      }),
    ),
  ).catch((err: unknown) => {
    if (err instanceof CmqError) throw failure(`nothing rotated: ${err.message}`);
    throw err;
  });
  const rotated = counts.reduce((n, c) => n + c.rotated, 0);
  const detail = counts.map((c) => `${c.table} ${c.rotated} of ${c.total}`).join(', ');
  process.stdout.write(
    `re-encrypted ${rotated} secret${rotated === 1 ? '' : 's'} under key ${keyring.activeKeyId} (${detail})\n`,
  );
}

/** `cmq keys generate|rotate`: keys for secrets at rest (km-client.cfg); no key is ever printed. */
export function registerKeysCommands(program: Command, env: Env): void {
  const keys = program.command('keys').description('encryption keys for secrets at rest (km-client.cfg)');
  keys
    .command('generate')
    .description(
      'append a new key line "id=base64(32 random bytes)" to FILE (created with mode 0600); the key is never printed',
    )
    .requiredOption('--out <file>', 'keys file to append to (km.keys_file)')
    .option('--id <id>', 'key id (default: k<UTC date and time>)')
    .action((opts: { out: string; id?: string }) => {
      const id = opts.id ?? `k${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
      const line = generateKeyLine(id);
      let fd: number;
      try {
        fd = openSync(opts.out, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
      } catch (err) {
        throw failure(`cannot open ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      try {
        fchmodSync(fd, 0o600);
        writeSync(fd, `${line}\n`);
      } finally {
        closeSync(fd);
      }
      process.stdout.write(`added key ${id} to ${opts.out}; set km.active_key_id=${id} to encrypt with it\n`);
    });

  withConfigDir(
    keys
      .command('rotate')
      .description(
        "re-encrypt every stored secret (accounts' credentials, guests' and nodes' keys) under km.active_key_id, in one transaction; prints how many",
      ),
  ).action((opts: { configDir?: string }) => rotate(opts, env));
}
