import { readFileSync } from 'node:fs';
import { GUEST_ID_RE, addGuest, checkLogPaths, defaultGuestId, listGuests } from '@cmq/actions';
import { CmqError, Keyring, kmFile } from '@cmq/common';
import type { Command } from 'commander';
import { type Env, loadConfigFile } from '../config-set';
import { CommandFailed, Exit, failure } from '../command-error';
import { withDatabase } from '../cli-db';
import { jsonLines, table, time } from '../format';
import { positiveInt, withConfigDir } from '../options';

interface AddOpts {
  configDir?: string;
  tenant: string;
  address: string;
  port: number;
  user: string;
  keyFile: string;
  hostKey?: string;
  name?: string;
  logPaths?: string;
}

/** `--log-paths P1,P2`: absolute remote files; '' means none (no scheduled collection). */
function parseLogPaths(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const paths = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  try {
    checkLogPaths(paths);
  } catch (err) {
    if (err instanceof CmqError) throw new CommandFailed(`--log-paths: ${err.message}`, Exit.REFUSED);
    throw err;
  }
  return paths;
}

/** The keyring of km-client.cfg (ConfigError: exit 78; a keys-file problem: exit 1, named). */
export function loadKeyring(dirOption: string | undefined, env: Env): Keyring {
  const km = loadConfigFile(dirOption, env, kmFile).km;
  try {
    return Keyring.fromConfig(km);
  } catch (err) {
    if (err instanceof CmqError) throw failure(err.message);
    throw err;
  }
}

export function readKeyFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw failure(`cannot read --key-file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function add(opts: AddOpts, env: Env): Promise<string> {
  const logPaths = parseLogPaths(opts.logPaths);
  const keyring = loadKeyring(opts.configDir, env);
  const key = readKeyFile(opts.keyFile);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('utf8')))
    throw failure(`--key-file ${opts.keyFile} is not a PEM or OpenSSH private key`);
  const encryptedKey = keyring.encrypt(key);
  key.fill(0);
  const id = opts.name ?? defaultGuestId(opts.address);
  await withDatabase(opts.configDir, env, async ({ sql }) => {
    try {
      await addGuest(sql, {
        tenant: opts.tenant,
        id,
        address: opts.address,
        port: opts.port,
        user: opts.user,
        encryptedKey,
        hostKey: opts.hostKey,
        trustOnFirstUse: false,
        logPaths,
      });
    } catch (err) {
      if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_GUEST') throw err;
      throw new CommandFailed(err.message, GUEST_ID_RE.test(id) ? Exit.FAILURE : Exit.REFUSED);
    }
  });
  return id;
}

/** `cmq guests add|list`: tenants' machines reached over SSH (keys stored encrypted, never printed). */
export function registerGuestCommands(program: Command, env: Env): void {
  const guests = program
    .command('guests')
    .description('add and list guests: tenant machines that guest.* actions reach over SSH');

  withConfigDir(
    guests
      .command('add')
      .description('add a guest; its private key is encrypted with km.active_key_id and never printed'),
  )
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--address <address>', 'IPv4 address or host name (must be inside SOURCE_CIDR when used)')
    .option('--port <port>', 'SSH port', positiveInt(65535), 22)
    .requiredOption('--user <user>', 'login user')
    .requiredOption('--key-file <file>', 'private key file (unencrypted PEM or OpenSSH)')
    .option(
      '--host-key <fingerprint>',
      'pinned host key, SHA256:... as ssh-keygen -l prints it; without it, the guest is refused until pinned',
    )
    .option('--name <name>', 'guest id within the tenant (default: the address)')
    .option(
      '--log-paths <paths>',
      'absolute remote files the publisher collects on a schedule, comma-separated (default: publisher.properties logs.paths; "" for none)',
    )
    .action(async (opts: AddOpts) => {
      const id = await add(opts, env);
      process.stdout.write(
        `added guest ${id} of tenant ${opts.tenant}${opts.hostKey === undefined ? ' (no host key pinned: connections are refused until one is)' : ''}\n`,
      );
    });

  withConfigDir(guests.command('list').description('list guests (never their keys)'))
    .option('--tenant <tenant>', 'only this tenant')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { configDir?: string; tenant?: string; json?: boolean }) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) => listGuests(sql, opts.tenant));
      if (opts.json === true) process.stdout.write(jsonLines(rows));
      else {
        const logPaths = (r: (typeof rows)[number]): string =>
          r.log_paths === null ? '(logs.paths)' : r.log_paths.length === 0 ? '(none)' : r.log_paths.join(',');
        const cells = rows.map((r) => [
          r.tenant_id,
          r.id,
          `${r.user}@${r.address}:${r.port}`,
          r.host_key_fingerprint ?? (r.trust_on_first_use ? '(first use)' : '(none)'),
          logPaths(r),
          time(r.created_at),
        ]);
        process.stdout.write(table(['TENANT', 'GUEST', 'TARGET', 'HOST KEY', 'LOG PATHS', 'CREATED'], cells));
      }
    });
}
