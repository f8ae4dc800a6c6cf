import { ConfigError, type DbConfig, FAMILIES, type Family, createPool, databaseLabel, errorText } from '@cmq/common';
import { type Command, type CommanderError, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { type CheckResult, NagiosState, evaluate, statusLine } from '../check-evaluate';
import { openBreakers, withWarnings } from '../breaker-check';
import { type CheckThresholds, loadCheckThresholds } from '../check-thresholds';
import { CommandFailed } from '../command-error';
import { type Env } from '../config-set';
import { loadDbConfig } from '../cli-db';
import { seconds, withConfigDir } from '../options';
import { loadRedisConfig, readHeartbeats, readSummary, withRedis } from '../redis-state';

/** Each connection gets this long; the whole check gives up (UNKNOWN) after CHECK_DEADLINE_MS. */
const CONNECT_TIMEOUT_MS = 3_000;
const CHECK_DEADLINE_MS = 9_000;

interface CheckOpts {
  configDir?: string;
  warning?: number;
  critical?: number;
  families?: Family[];
}

function familyList(value: string): Family[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const f of items)
    if (!(FAMILIES as readonly string[]).includes(f))
      throw new InvalidArgumentError(`"${f}" is not a family (${FAMILIES.join(', ')})`);
  if (items.length === 0) throw new InvalidArgumentError(`name at least one family (${FAMILIES.join(', ')})`);
  return items as Family[];
}

/**
 * Why PostgreSQL does not answer `SELECT 1` within the connect timeout (or undefined), and the
 * autoscaling policies whose launch breaker is open (WARNINGs).
 */
async function probePostgres(db: DbConfig['db']): Promise<{ error: string | undefined; breakers: string[] }> {
  const timeout = Math.min(db.connect_timeout, CONNECT_TIMEOUT_MS);
  const pool = createPool(
    { ...db, pool: { max: 1 }, connect_timeout: timeout, statement_timeout: timeout },
    pino({ level: 'silent' }),
    'cmq-check',
  );
  try {
    await pool.query('SELECT 1');
    return { error: undefined, breakers: await openBreakers(pool) };
  } catch (err) {
    const text = err instanceof AggregateError ? err.errors.map(errorText).join('; ') : errorText(err);
    return { error: `${databaseLabel(db)}: ${text}`, breakers: [] };
  } finally {
    await pool.end().catch(() => undefined);
  }
}

function thresholds(opts: CheckOpts, env: Env): CheckThresholds {
  const t = loadCheckThresholds(opts.configDir, env);
  const warning = opts.warning === undefined ? t.canaryWarningMs : opts.warning * 1000;
  const critical = opts.critical === undefined ? t.canaryCriticalMs : opts.critical * 1000;
  if (warning > critical)
    throw new InvalidArgumentError(
      `the warning threshold (${warning / 1000}s) is above the critical one (${critical / 1000}s)`,
    );
  return { ...t, canaryWarningMs: warning, canaryCriticalMs: critical };
}

async function runCheck(opts: CheckOpts, env: Env): Promise<CheckResult> {
  const t = thresholds(opts, env);
  const db = loadDbConfig(opts.configDir, env);
  const redisCfg = loadRedisConfig(opts.configDir, env);
  const [state, postgres] = await Promise.all([
    withRedis(redisCfg, CONNECT_TIMEOUT_MS, async (redis) => ({
      beats: await readHeartbeats(redis),
      summary: await readSummary(redis),
    })),
    probePostgres(db),
  ]);
  const families =
    opts.families ??
    (state.summary === undefined ? FAMILIES : FAMILIES.filter((f) => state.summary?.families[f] !== undefined));
  const verdict = evaluate({
    families: families.length === 0 ? FAMILIES : families,
    ...state,
    postgresError: postgres.error,
    thresholds: t,
    now: Date.now(),
  });
  return withWarnings(verdict, postgres.breakers);
}

function unknown(err: unknown): CheckResult {
  const text =
    err instanceof ConfigError
      ? err.issues.map((i) => `${i.source}: ${i.key}: ${i.message}`).join('; ')
      : errorText(err);
  return {
    code: NagiosState.UNKNOWN,
    text: err instanceof ConfigError ? `invalid configuration: ${text}` : text,
    perfdata: [],
  };
}

/** Prints the plugin's line and ends with its exit status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). */
async function check(opts: CheckOpts, env: Env): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(
      () => resolve(unknown(new Error(`no verdict within ${CHECK_DEADLINE_MS / 1000} s`))),
      CHECK_DEADLINE_MS,
    );
  });
  const result = await Promise.race([runCheck(opts, env).catch(unknown), deadline]);
  clearTimeout(timer);
  process.stdout.write(statusLine(result.code, result.text, result.perfdata));
  if (result.code !== NagiosState.OK) throw new CommandFailed('', result.code);
}

/** A bad command line is UNKNOWN (exit 3) to Nagios, with the usage on stderr. */
function usageUnknown(err: CommanderError): never {
  if (err.exitCode === 0) throw err;
  process.stdout.write(statusLine(NagiosState.UNKNOWN, `usage: ${err.message.replace(/^error: /, '')}`));
  throw new CommandFailed('', NagiosState.UNKNOWN);
}

/** `cmq check`: a Nagios plugin over the heartbeats, the pinger's summary and PostgreSQL. */
export function registerCheckCommand(program: Command, env: Env): void {
  withConfigDir(program.command('check'))
    .description('Nagios plugin: CMQ OK|WARNING|CRITICAL|UNKNOWN - text | perfdata; exit 0/1/2/3')
    .option(
      '--warning <seconds>',
      'canary latency warning threshold (default check.canary_warning of pinger.properties)',
      seconds,
    )
    .option(
      '--critical <seconds>',
      'canary latency critical threshold (default check.canary_critical of pinger.properties)',
      seconds,
    )
    .option(
      '--families <list>',
      `families to check, comma-separated (default: those in the pinger summary, else ${FAMILIES.join(',')})`,
      familyList,
    )
    .exitOverride(usageUnknown)
    .action((opts: CheckOpts) => check(opts, env));
}
