import {
  type ControlCommand,
  type ControlResult,
  type ControlTarget,
  controlAudit,
  describeCommand,
  describeTarget,
  recordAudit,
  sendControl,
  silentProcesses,
  targetMatches,
} from '@cmq/actions';
import { FAMILIES, type Family, SERVICES, type ServiceName, errorText } from '@cmq/common';
import { type Command, InvalidArgumentError } from 'commander';
import { loadMqConfig, withBroker } from '../broker';
import { cliActor, withDatabase } from '../cli-db';
import { failure, usage } from '../command-error';
import { type Env } from '../config-set';
import { jsonLines } from '../format';
import { positiveInt, seconds, withConfigDir } from '../options';
import { type ProcessBeat, loadRedisConfig, readHeartbeats, withRedis } from '../redis-state';
import { beatsTable, identitiesTable, outcomeLines, silenceLines } from '../workers-format';

interface AddressOpts {
  configDir?: string;
  service?: ServiceName;
  name?: string;
  host?: string;
  pid?: number;
  all?: boolean;
  timeout?: number;
  json?: boolean;
}

function serviceName(value: string): ServiceName {
  if (!(SERVICES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${SERVICES.join(', ')}`);
  return value as ServiceName;
}

function familyName(value: string): Family {
  if (!(FAMILIES as readonly string[]).includes(value))
    throw usage(`"${value}" is not a family (${FAMILIES.join(', ')})`);
  return value as Family;
}

/** Adds the addressing options and `--timeout`, `--json`. */
function addressed(command: Command): Command {
  return withConfigDir(command)
    .option(
      '--service <service>',
      `processes of this service (${SERVICES.join(', ')}; default subscriber)`,
      serviceName,
    )
    .option('--name <name>', 'processes of this name (the name key of their properties file)')
    .option('--host <host>', 'processes on this host (as their heartbeats name it)')
    .option('--pid <pid>', 'the process of this pid', positiveInt(2 ** 31))
    .option('--all', 'every process of the service (instead of --name/--host/--pid)')
    .option('--timeout <seconds>', 'how long to wait for replies (default 2)', seconds)
    .option('--json', 'one JSON line per reply');
}

/** The target the options name; a command that acts must name one (or say --all). */
function targetOf(opts: AddressOpts, needed: boolean): ControlTarget {
  const target: ControlTarget = { service: opts.service ?? 'subscriber' };
  if (opts.name !== undefined) target.name = opts.name;
  if (opts.host !== undefined) target.host = opts.host;
  if (opts.pid !== undefined) target.pid = opts.pid;
  const narrowed = opts.name !== undefined || opts.host !== undefined || opts.pid !== undefined;
  if (opts.all === true && narrowed) throw usage('--all goes without --name, --host and --pid');
  if (needed && opts.all !== true && !narrowed) throw usage('say which processes: --name, --host, --pid, or --all');
  return target;
}

/** The live processes (heartbeats) the target names; [] when Redis cannot be read (then the whole timeout is waited). */
async function liveMatching(opts: AddressOpts, env: Env, target: ControlTarget): Promise<ProcessBeat[] | undefined> {
  try {
    const beats = await withRedis(loadRedisConfig(opts.configDir, env), 3_000, readHeartbeats);
    return beats.filter((b) => targetMatches(target, b));
  } catch (err) {
    process.stderr.write(`cmq: live processes unknown (${errorText(err)}): waiting the whole timeout\n`);
    return undefined;
  }
}

/**
 * THE audit call site of `cmq workers`: one `audit_log` row per command sent, with its replies
 * (who answered what) and the live processes that stayed silent.
 */
async function auditWorkerControl(
  opts: AddressOpts,
  env: Env,
  result: ControlResult,
  silent: readonly ProcessBeat[],
): Promise<void> {
  await withDatabase(opts.configDir, env, ({ sql }) =>
    recordAudit(sql, { actor: result.message.actor, ...controlAudit(result, silent) }),
  );
}

async function send(opts: AddressOpts, env: Env, command: ControlCommand): Promise<void> {
  const target = targetOf(opts, command.command !== 'ping');
  const live = await liveMatching(opts, env, target);
  const result = await withBroker(loadMqConfig(opts.configDir, env), (client) =>
    sendControl(client, target, command, {
      actor: cliActor(env),
      timeoutMs: (opts.timeout ?? 2) * 1000,
      expected: live?.length === 0 ? undefined : live?.length,
    }),
  );
  const silent = silentProcesses(result, live ?? []);
  if (opts.json === true) process.stdout.write(jsonLines(result.replies));
  else if (command.command === 'ping') process.stdout.write(`${identitiesTable(result.replies)}`);
  else process.stdout.write(outcomeLines(result.replies));
  process.stdout.write(silenceLines(result, silent));
  if (command.command !== 'ping')
    await auditWorkerControl(opts, env, result, silent).catch((err: unknown) => {
      throw failure(
        `${describeCommand(command)} was sent (replies above) but not recorded in audit_log: ${errorText(err)}`,
      );
    });
  const what = `${describeCommand(command)} to ${describeTarget(target)}`;
  if (result.replies.length === 0) throw failure(`no process answered ${what} within ${opts.timeout ?? 2} s`);
  if (silent.length > 0) throw failure(`${silent.length} live process(es) did not answer ${what}`);
  if (result.replies.some((r) => r.outcome === 'refused')) throw failure(`${what}: refused by some (see above)`);
}

async function list(opts: AddressOpts, env: Env): Promise<void> {
  const target = targetOf(opts, false);
  if (opts.service === undefined) delete target.service;
  const beats = (await withRedis(loadRedisConfig(opts.configDir, env), 3_000, readHeartbeats)).filter((b) =>
    targetMatches(target, b),
  );
  process.stdout.write(opts.json === true ? jsonLines(beats) : beatsTable(beats));
}

/**
 * `cmq workers list|ping|drain|pause|resume`: worker control over the broker (see
 * docs/worker-control.md). Every command but list and ping is recorded in `audit_log`.
 */
export function registerWorkersCommands(program: Command, env: Env): void {
  const workers = program.command('workers').description('live processes, and control of them over the broker');
  addressed(workers.command('list'))
    .description('live processes from their heartbeats: state, families consumed, families paused (by whom, since)')
    .action((opts: AddressOpts) => list(opts, env));
  addressed(workers.command('ping'))
    .description('ask processes over the broker who they are; lists those that answer and live ones that do not')
    .action((opts: AddressOpts) => send(opts, env, { command: 'ping' }));
  addressed(workers.command('drain'))
    .description('stop processes as SIGTERM does: stop consuming, finish in-flight work, exit 0')
    .action((opts: AddressOpts) => send(opts, env, { command: 'drain' }));
  addressed(workers.command('pause <family>'))
    .description("stop consuming one family's queue (the others go on) until resume; a restart ends it")
    .action((family: string, opts: AddressOpts) => send(opts, env, { command: 'pause', family: familyName(family) }));
  addressed(workers.command('resume <family>'))
    .description("consume a paused family's queue again")
    .action((family: string, opts: AddressOpts) => send(opts, env, { command: 'resume', family: familyName(family) }));
}
