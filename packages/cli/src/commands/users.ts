import {
  ROLES,
  type Role,
  MIN_PASSWORD_LENGTH,
  addUser,
  checkNewUser,
  checkPassword,
  createApiToken,
  disableUser,
  listUsers,
  recordAudit,
  setPassword,
} from '@cmq/actions';
import { CmqError, type Sql } from '@cmq/common';
import { type Command, Option } from 'commander';
import { read } from 'read';
import { type Env } from '../config-set';
import { CommandFailed, Exit, failure } from '../command-error';
import { cliActor, withDatabase } from '../cli-db';
import { jsonLines, table, time } from '../format';
import { withConfigDir } from '../options';

interface ConfigOpts {
  configDir?: string;
}

/** Reads all of a piped stdin: the password is its first line. */
async function stdinFirstLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '').trimEnd();
}

/**
 * The new password: typed twice at a prompt that does not echo (on a terminal), or the first line
 * of stdin otherwise. Never an argument: argv is visible to every user of the host (ps).
 */
async function readNewPassword(name: string): Promise<string> {
  if (process.stdin.isTTY !== true) return stdinFirstLine();
  const ask = (prompt: string): Promise<string> => read({ prompt, silent: true, replace: '', output: process.stderr });
  const first = await ask(`Password for ${name}: `);
  if ((await ask('Again: ')) !== first) throw failure('the two passwords differ; nothing changed');
  return first;
}

/** Runs `fn`, turning CMQ_ERR_USER into the command's failure with `exit`. */
async function asUserCommand<T>(exit: number, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CmqError && err.code === 'CMQ_ERR_USER') throw new CommandFailed(err.message, exit);
    throw err;
  }
}

async function audited(sql: Sql, env: Env, action: string, target: string, detail?: Record<string, unknown>) {
  await recordAudit(sql, { actor: cliActor(env), action, target, outcome: 'ok', detail: detail ?? null });
}

function registerAdd(users: Command, env: Env): void {
  withConfigDir(users.command('add').argument('<name>', 'user name').description('add a console user'))
    .addOption(new Option('--role <role>', 'what the user may do').choices(ROLES).makeOptionMandatory())
    .option('--tenant <tenant>', 'bind the user to one tenant: it sees only that tenant')
    .action(async (name: string, opts: ConfigOpts & { role: Role; tenant?: string }) => {
      const user = { name, role: opts.role, tenant: opts.tenant ?? null, password: '' };
      // A malformed name is refused (2) before asking for a password; a bad password too.
      await asUserCommand(Exit.REFUSED, () => checkNewUser({ ...user, password: 'x'.repeat(MIN_PASSWORD_LENGTH) }));
      user.password = await readNewPassword(name);
      await asUserCommand(Exit.REFUSED, () => checkPassword(user.password));
      await withDatabase(opts.configDir, env, async ({ sql }) => {
        await asUserCommand(Exit.FAILURE, () => addUser(sql, user));
        await audited(sql, env, 'user.add', name, { role: opts.role, tenant: opts.tenant ?? null });
      });
      process.stdout.write(
        `added ${opts.role} ${name}${opts.tenant === undefined ? '' : ` of tenant ${opts.tenant}`}\n`,
      );
    });
}

function registerList(users: Command, env: Env): void {
  withConfigDir(users.command('list').description('list console users'))
    .option('--json', 'one JSON object per line')
    .action(async (opts: ConfigOpts & { json?: boolean }) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) => listUsers(sql));
      if (opts.json === true) process.stdout.write(jsonLines(rows));
      else
        process.stdout.write(
          table(
            ['NAME', 'ROLE', 'TENANT', 'DISABLED', 'CREATED'],
            rows.map((u) => [u.name, u.role, u.tenant ?? '-', u.disabled ? 'yes' : 'no', time(u.created_at)]),
          ),
        );
    });
}

/** A command on one existing user (passwd, disable, token); `prepare` runs before connecting. */
function registerOnUser<P>(
  users: Command,
  env: Env,
  verb: string,
  help: string,
  prepare: (name: string) => Promise<P>,
  run: (sql: Sql, name: string, prepared: P) => Promise<string>,
): void {
  withConfigDir(users.command(verb).argument('<name>', 'user name').description(help)).action(
    async (name: string, opts: ConfigOpts) => {
      const prepared = await prepare(name);
      const out = await withDatabase(opts.configDir, env, (db) =>
        asUserCommand(Exit.FAILURE, () => run(db.sql, name, prepared)),
      );
      process.stdout.write(out);
    },
  );
}

async function newPasswordChecked(name: string): Promise<string> {
  const password = await readNewPassword(name);
  await asUserCommand(Exit.REFUSED, () => checkPassword(password));
  return password;
}

const nothing = (): Promise<void> => Promise.resolve();

/** `cmq users add|list|passwd|disable|token`: the people who may use the console. */
export function registerUserCommands(program: Command, env: Env): void {
  const users = program
    .command('users')
    .description('console users: add, list, change a password, disable, make an API token');
  registerAdd(users, env);
  registerList(users, env);
  registerOnUser(
    users,
    env,
    'passwd',
    "set a user's password (prompt, or stdin's first line); ends its sessions",
    newPasswordChecked,
    async (sql, name, password) => {
      await setPassword(sql, name, password);
      await audited(sql, env, 'user.passwd', name);
      return `password of ${name} changed\n`;
    },
  );
  registerOnUser(
    users,
    env,
    'disable',
    'disable a user: no login, its sessions and API tokens stop working',
    nothing,
    async (sql, name) => {
      await disableUser(sql, name);
      await audited(sql, env, 'user.disable', name);
      return `disabled ${name}\n`;
    },
  );
  registerOnUser(
    users,
    env,
    'token',
    'make an API token for the user (printed once, stored hashed)',
    nothing,
    async (sql, name) => {
      const token = await createApiToken(sql, name);
      await audited(sql, env, 'token.create', name);
      return `${token}\n`;
    },
  );
}
