import { ACTION_DEFINITIONS, parseRequest } from '@cmq/actions';
import type { Command } from 'commander';
import { cliActor, withDatabase } from '../cli-db';
import { refused, usage } from '../command-error';
import { type Env } from '../config-set';
import { submitStdin } from '../bulk-intake';
import { positiveInt, seconds, waitMs, withConfigDir } from '../options';
import { loadMode } from '../provisioning';
import { intakeKeyring } from '../intake-keyring';
import { submitOne } from '../submit-one';

interface CallOpts {
  configDir?: string;
  tenant?: string;
  args?: string;
  idempotencyKey?: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  priority?: string;
  maxAttempts?: string;
  wait?: boolean;
  timeout?: number;
  stdin?: boolean;
  batch?: number;
}

const NUMBER_RE = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** A number when it looks like one; otherwise the text, for parseRequest to refuse by name. */
function numeric(value: string | undefined): number | string | undefined {
  return value !== undefined && NUMBER_RE.test(value) ? Number(value) : value;
}

/** The JSON request (the shape of one `--stdin` line) that the options describe. */
function rawRequest(type: string, opts: CallOpts): Record<string, unknown> {
  const raw: Record<string, unknown> = { type, tenant: opts.tenant };
  if (opts.args !== undefined) {
    try {
      raw.args = JSON.parse(opts.args) as unknown;
    } catch (err) {
      throw refused(`args: not JSON: ${(err as Error).message}`);
    }
  }
  const optional: Array<[string, unknown]> = [
    ['idempotency_key', opts.idempotencyKey],
    ['countdown', numeric(opts.countdown)],
    ['eta', opts.eta],
    ['expires', opts.expires],
    ['priority', numeric(opts.priority)],
    ['max_attempts', numeric(opts.maxAttempts)],
  ];
  for (const [key, value] of optional) if (value !== undefined) raw[key] = value;
  return raw;
}

const SINGLE_ONLY = [
  'tenant',
  'args',
  'idempotencyKey',
  'countdown',
  'eta',
  'expires',
  'priority',
  'maxAttempts',
  'wait',
  'timeout',
] as const;

async function callOne(type: string | undefined, opts: CallOpts, env: Env): Promise<void> {
  if (type === undefined) throw usage('call: give an action TYPE, or --stdin');
  if (opts.tenant === undefined) throw usage('call: --tenant T is required');
  if (opts.batch !== undefined) throw usage('--batch goes with --stdin');
  const wait = waitMs(opts);
  const checked = parseRequest(rawRequest(type, opts));
  if (!checked.ok) throw refused(checked.error);
  const mode = loadMode(opts.configDir, env);
  await withDatabase(opts.configDir, env, (db) =>
    submitOne(db, checked.request, env, mode, wait, intakeKeyring(opts.configDir, env)),
  );
}

async function callStdin(type: string | undefined, opts: CallOpts, env: Env): Promise<void> {
  const extra = SINGLE_ONLY.filter((k) => opts[k] !== undefined).map(
    (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  );
  if (type !== undefined) extra.unshift(`TYPE ${type}`);
  if (extra.length > 0) throw usage(`call --stdin: every request comes from stdin; drop ${extra.join(', ')}`);
  const mode = loadMode(opts.configDir, env);
  await withDatabase(opts.configDir, env, (db) =>
    submitStdin(
      db,
      process.stdin,
      process.stdout,
      opts.batch ?? 1000,
      cliActor(env),
      mode,
      intakeKeyring(opts.configDir, env),
    ),
  );
}

/** The action types, for `cmq call --help`: name, family, the least mode, and what it does. */
export function actionTypesHelp(): string {
  const width = Math.max(...ACTION_DEFINITIONS.map((d) => d.type.length));
  const lines = ACTION_DEFINITIONS.map((d) => {
    const facts = `[${d.family}, mode=${d.mode}${d.destructive ? ', destructive' : ''}]`;
    return `  ${d.type.padEnd(width)}  ${facts} ${d.description}`;
  });
  return `\nAction types (provisioning.cfg mode must be at least the one shown):\n${lines.join('\n')}\n`;
}

/** `cmq call`: submit one action (optionally waiting for its outcome), or many from stdin. */
export function registerCallCommand(program: Command, env: Env): void {
  withConfigDir(program.command('call').argument('[type]', 'action type (noop, ping, ...)'))
    .description('submit an action and print its id; with --stdin, one JSON request per line, one id per line')
    .option('--tenant <tenant>', 'tenant the action is for')
    .option('--args <json>', "arguments, a JSON object (checked against the type's schema)")
    .option('--idempotency-key <key>', "the same key (per tenant) returns the existing action's id")
    .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
    .option('--eta <iso>', 'run no earlier than this time (ISO 8601 with offset)')
    .option('--expires <iso>', 'never run after this time (the action ends expired)')
    .option('--priority <n>', 'from -100 to 100 (default 0); higher goes first within a tenant')
    .option('--max-attempts <n>', 'attempts before it ends dead (default 5)')
    .option('--wait', 'wait for a final state; print it with the result or error (exit 0 only for succeeded)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (default 60; exit 1)', seconds)
    .option(
      '--stdin',
      'read JSON requests, one per line (fields: type, tenant, args, idempotency_key, countdown, eta, expires, priority, max_attempts)',
    )
    .option('--batch <n>', 'with --stdin: requests per transaction (default 1000)', positiveInt(100_000))
    .addHelpText('after', actionTypesHelp())
    .action(async (type: string | undefined, opts: CallOpts) => {
      if (opts.stdin === true) await callStdin(type, opts, env);
      else await callOne(type, opts, env);
    });
}
