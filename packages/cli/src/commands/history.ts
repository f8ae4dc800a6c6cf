import {
  type FinalState,
  type PruneCount,
  type RetentionReport,
  historyStats,
  recordAudit,
  resetTenantHistory,
  retentionOverrides,
  runRetention,
  setRetentionOverride,
} from '@cmq/actions';
import { FINAL_STATES, formatDuration, parseDuration } from '@cmq/common';
import { publisherFile } from '@cmq/config';
import { type Command, InvalidArgumentError } from 'commander';
import { type CliDb, cliActor, withDatabase } from '../cli-db';
import { type Env, loadConfigFile } from '../config-set';
import { failure, usage } from '../command-error';
import { jsonLines, safeJson, table, time } from '../format';
import { withConfigDir } from '../options';

interface Opts {
  configDir?: string;
  json?: boolean;
}

/** Commander parser: a date or time (`2026-12-01`, `2026-12-01T12:00:00Z`). */
function date(value: string): Date {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('must be a date (2026-12-01) or an ISO time (2026-12-01T12:00:00Z)');
  return d;
}

/** Commander parser: a final state. */
function finalState(value: string): FinalState {
  if (!(FINAL_STATES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be a final state: ${FINAL_STATES.join(', ')}`);
  return value as FinalState;
}

/** Commander parser: a retention of at least an hour (`72h`). */
function keep(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 3_600_000) throw new InvalidArgumentError('must be a duration of at least 1h (36h, 3d)');
  return ms;
}

function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return `${i === 0 ? n : n.toFixed(1)} ${units[i] as string}`;
}

/** The lines of a retention pass's report (`would remove` for a dry run). */
function reportText(r: RetentionReport, dryRun: boolean): string {
  const verb = dryRun ? 'would remove' : 'removed';
  const lines = r.actions.map(
    (c) =>
      `${verb} ${c.actions} ${c.state} action(s)${c.tenant === null ? '' : ` of tenant ${c.tenant}`}` +
      (dryRun ? ' with their events' : ` and ${c.events} event(s)`),
  );
  for (const [t, n] of Object.entries(r.tables)) lines.push(`${verb} ${n} row(s) of ${t}`);
  for (const p of r.partitionsDropped) lines.push(`${dryRun ? 'would drop' : 'dropped'} partition ${p}`);
  if (r.partitionsCreated > 0) lines.push(`created ${r.partitionsCreated} partition(s) ahead`);
  if (lines.length === 0) lines.push(dryRun ? 'nothing is due for removal' : 'nothing was due for removal');
  return lines.map((l) => `${l}\n`).join('');
}

async function retentionPass(db: CliDb, dir: string | undefined, env: Env, dryRun: boolean): Promise<RetentionReport> {
  const { history } = loadConfigFile(dir, env, publisherFile());
  return runRetention(db.sql, db.transaction, history, { dryRun });
}

/** `--tenant T --before DATE`: that tenant's final actions finished before DATE, audited. */
async function tenantReset(
  db: CliDb,
  env: Env,
  reset: { dir: string | undefined; tenant: string; before: Date; dryRun: boolean },
): Promise<PruneCount[]> {
  const { dir, tenant, before, dryRun } = reset;
  const { batch } = loadConfigFile(dir, env, publisherFile()).history;
  const { counts: out, error } = await resetTenantHistory(db.sql, db.transaction, { tenant, before, batch, dryRun });
  if (!dryRun) {
    const removed = out.reduce((n, c) => n + c.actions, 0);
    await recordAudit(db.sql, {
      actor: cliActor(env),
      action: 'history.prune',
      target: `tenant:${tenant}`,
      outcome: error === undefined ? 'ok' : 'failed',
      tenant,
      detail: { before: before.toISOString(), actions: removed, events: out.reduce((n, c) => n + c.events, 0) },
    });
  }
  if (error !== undefined) throw error;
  return out.filter((c) => c.actions > 0);
}

function registerPrune(history: Command, env: Env): void {
  withConfigDir(history.command('prune'))
    .description(
      'remove what retention removes now (publisher.properties history.retention.*, `cmq history retention`), or with --tenant and --before only that tenant’s final actions finished before that date (audited)',
    )
    .option('--dry-run', 'count what would be removed; remove nothing')
    .option('--tenant <id>', 'only this tenant’s final actions (needs --before)')
    .option('--before <date>', 'only actions finished before this date or ISO time (needs --tenant)', date)
    .option('--json', 'the report as JSON')
    .action(async (opts: Opts & { dryRun?: boolean; tenant?: string; before?: Date }) => {
      if ((opts.tenant === undefined) !== (opts.before === undefined))
        throw usage('--tenant and --before go together (a tenant’s reset); without both, prune applies retention');
      const dryRun = opts.dryRun === true;
      const { tenant, before } = opts;
      if (tenant !== undefined && before !== undefined) {
        const counts = await withDatabase(opts.configDir, env, (db) =>
          tenantReset(db, env, { dir: opts.configDir, tenant, before, dryRun }),
        );
        const report: RetentionReport = { actions: counts, tables: {}, partitionsCreated: 0, partitionsDropped: [] };
        process.stdout.write(opts.json === true ? `${safeJson(report)}\n` : reportText(report, dryRun));
        return;
      }
      const report = await withDatabase(opts.configDir, env, (db) => retentionPass(db, opts.configDir, env, dryRun));
      process.stdout.write(opts.json === true ? `${safeJson(report)}\n` : reportText(report, dryRun));
    });
}

function registerStats(history: Command, env: Env): void {
  withConfigDir(history.command('stats'))
    .description('rows, bytes and oldest row of each history table and partition, and what the next prune will remove')
    .option('--json', 'one JSON object per table, then the next prune’s report')
    .action(async (opts: Opts) => {
      const [stats, next] = await withDatabase(
        opts.configDir,
        env,
        async (db) => [await historyStats(db.sql), await retentionPass(db, opts.configDir, env, true)] as const,
      );
      if (opts.json === true) {
        process.stdout.write(jsonLines(stats) + `${safeJson({ nextPrune: next })}\n`);
        return;
      }
      const rows = stats.map((s) => [
        s.partitionOf === null ? s.table : `  ${s.table}`,
        s.range ?? '-',
        String(s.rows),
        bytes(s.bytes),
        time(s.oldest),
      ]);
      process.stdout.write(table(['TABLE', 'RANGE', 'ROWS (EST.)', 'SIZE', 'OLDEST'], rows));
      process.stdout.write(`\nnext prune:\n${reportText(next, true)}`);
    });
}

function registerRetention(history: Command, env: Env): void {
  withConfigDir(history.command('retention'))
    .description(
      'list the tenants’ own retentions, or set (--keep) or clear (--clear) one tenant’s retention of one final state',
    )
    .option('--tenant <id>', 'the tenant')
    .option('--state <state>', 'the final state', finalState)
    .option('--keep <duration>', 'how long to keep it (at least 1h, e.g. 72h)', keep)
    .option('--clear', 'back to publisher.properties history.retention.<state>')
    .action(async (opts: Opts & { tenant?: string; state?: FinalState; keep?: number; clear?: boolean }) => {
      const { tenant, state } = opts;
      const setting = opts.keep !== undefined || opts.clear === true;
      if (!setting) {
        const rows = await withDatabase(opts.configDir, env, ({ sql }) => retentionOverrides(sql));
        process.stdout.write(
          table(
            ['TENANT', 'STATE', 'KEEP'],
            rows.map((r) => [r.tenant, r.state, formatDuration(r.keepMs)]),
          ),
        );
        return;
      }
      if (tenant === undefined || state === undefined || (opts.keep !== undefined) === (opts.clear === true))
        throw usage('set a retention with --tenant, --state and one of --keep or --clear');
      await withDatabase(opts.configDir, env, async ({ sql }) => {
        try {
          await setRetentionOverride(sql, tenant, state, opts.keep ?? null);
        } catch (err) {
          if ((err as { code?: string }).code === '23503') throw failure(`no tenant "${tenant}"`);
          throw err;
        }
      });
      process.stdout.write(
        opts.keep === undefined
          ? `tenant ${tenant}: ${state} actions kept as publisher.properties says\n`
          : `tenant ${tenant}: ${state} actions kept ${formatDuration(opts.keep)}\n`,
      );
    });
}

/** `cmq history stats|prune|retention`: retention of history (docs/history.md). */
export function registerHistoryCommands(program: Command, env: Env): void {
  const history = program.command('history').description('history retention: sizes, pruning, per-tenant retention');
  registerStats(history, env);
  registerPrune(history, env);
  registerRetention(history, env);
}
