import { readFileSync } from 'node:fs';
import { addGuest, checkLogPaths, defaultGuestId, guestProblems, listGuests, privateKeyProblem } from '@cmq/actions';
import { CmqError, Keyring, kmFile } from '@cmq/common';
import type { Command } from 'commander';
import { type Env, loadConfigFile } from '../config-set';
import { CommandFailed, Exit, failure } from '../command-error';
import { withDatabase } from '../cli-db';
import { jsonLines, table, time } from '../format';
import { positiveInt, withConfigDir } from '../options';
import { registerGuestAdmin } from './guests-admin';
import { auditHostAct } from './host-audit';

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

/**
 * The private key of `--key-file`, encrypted under km.active_key_id (the keyring is loaded first:
 * no key is read without one); the clear bytes are zeroed at once.
 */
export function sealKeyFile(dirOption: string | undefined, env: Env, path: string): string {
  const keyring = loadKeyring(dirOption, env);
  const key = readKeyFile(path);
  try {
    const problem = privateKeyProblem(key);
    if (problem !== undefined) throw failure(`--key-file ${path} is ${problem}`);
    return keyring.encrypt(key);
  } finally {
    key.fill(0);
  }
}

async function add(opts: AddOpts, env: Env): Promise<string> {
  const logPaths = parseLogPaths(opts.logPaths);
  const id = opts.name ?? defaultGuestId(opts.address);
  const guest = { id, address: opts.address, port: opts.port, user: opts.user, hostKey: opts.hostKey, logPaths };
  // A malformed field is a bad request (2), refused before the key is read; a taken id is 1.
  const problem = Object.values(guestProblems(guest))[0];
  if (problem !== undefined) throw new CommandFailed(problem, Exit.REFUSED);
  const encryptedKey = sealKeyFile(opts.configDir, env, opts.keyFile);
  await withDatabase(opts.configDir, env, async ({ sql }) => {
    try {
      await addGuest(sql, { ...guest, tenant: opts.tenant, encryptedKey, trustOnFirstUse: false });
    } catch (err) {
      if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_GUEST') throw err;
      throw new CommandFailed(err.message, Exit.FAILURE);
    }
    await auditHostAct(sql, env, { action: 'guest.add', target: id, tenant: opts.tenant });
  });
  return id;
}

/** `cmq guests add|list|activate|deactivate|remove`: tenants' machines reached over SSH (keys stored encrypted, never printed). */
export function registerGuestCommands(program: Command, env: Env): void {
  const guests = program
    .command('guests')
    .description('add, list, deactivate and remove guests: tenant machines that guest.* actions reach over SSH');

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
          r.active ? 'yes' : 'no',
          logPaths(r),
          time(r.created_at),
        ]);
        process.stdout.write(table(['TENANT', 'GUEST', 'TARGET', 'HOST KEY', 'ACTIVE', 'LOG PATHS', 'CREATED'], cells));
      }
    });

  registerGuestAdmin(guests, env);
}
