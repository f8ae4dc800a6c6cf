import { closeSync, constants, fchmodSync, openSync, writeSync } from 'node:fs';
import { generateKeyLine } from '@cmq/common';
import type { Command } from 'commander';
import { failure } from '../command-error';

/** `cmq keys generate`: a new key line for km.keys_file (never printed). */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('encryption keys for secrets at rest (km-client.cfg)');
  keys
    .command('generate')
    .description('append a new key line "id=base64(32 random bytes)" to FILE (created with mode 0600); the key is never printed')
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
}
