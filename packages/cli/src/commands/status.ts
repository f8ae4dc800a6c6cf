import { ACTION_STATES, FAMILIES, errorText } from '@cmq/common';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { type Env } from '../config-set';
import { duration, since } from '../durations';
import { oneLine, safeJson, table, time } from '../format';
import { withConfigDir } from '../options';
import type { StoredSummary } from '../pinger-summary';
import { type ProcessBeat, loadRedisConfig, readHeartbeats, readSummary, withRedis } from '../redis-state';
import { type FamilyLoad, familyLoads, tenantStates } from '../status-queries';

export interface StatusOpts {
  configDir?: string;
  json?: boolean;
}

export interface Status {
  at: string;
  processes: ProcessBeat[];
  families: FamilyLoad[];
  /** `pinger` (its summary) or `postgres` (computed: no summary in Redis). */
  families_from: 'pinger' | 'postgres';
  summary_at: string | null;
  tenants: Record<string, Record<string, number>>;
  /** Why Redis could not be read (processes then unknown), when it could not. */
  redis_error?: string;
}

function fromSummary(s: StoredSummary): FamilyLoad[] {
  return FAMILIES.flatMap((family) => {
    const h = s.families[family];
    return h === undefined
      ? []
      : [
          {
            family,
            backlog: h.backlog,
            queued: h.queued,
            running: h.running,
            oldest_age_s: h.oldest_age_s,
            broker_depth: h.broker_depth,
          },
        ];
  });
}

async function redisPart(
  opts: StatusOpts,
  env: Env,
): Promise<{ processes: ProcessBeat[]; summary?: StoredSummary; redis_error?: string }> {
  try {
    return await withRedis(loadRedisConfig(opts.configDir, env), 3_000, async (redis) => ({
      processes: await readHeartbeats(redis),
      summary: await readSummary(redis),
    }));
  } catch (err) {
    return { processes: [], redis_error: errorText(err) };
  }
}

/** What `cmq status` shows (also `cmq shell`'s status()). */
export async function gatherStatus(opts: StatusOpts, env: Env): Promise<Status> {
  const { processes, summary, redis_error } = await redisPart(opts, env);
  const { families, tenants } = await withDatabase(opts.configDir, env, async ({ sql }) => ({
    families: summary === undefined ? await familyLoads(sql) : fromSummary(summary),
    tenants: await tenantStates(sql),
  }));
  const status: Status = {
    at: new Date().toISOString(),
    processes,
    families,
    families_from: summary === undefined ? 'postgres' : 'pinger',
    summary_at: summary?.at ?? null,
    tenants,
  };
  if (redis_error !== undefined) status.redis_error = redis_error;
  return status;
}

function processesText(s: Status, now: number): string {
  if (s.redis_error !== undefined) return `PROCESSES: unknown (${s.redis_error})\n`;
  const n = (v: number | null): string => (v === null ? '-' : String(v));
  const rows = s.processes.map((p) => [
    p.service,
    p.name,
    p.host,
    String(p.pid),
    p.version,
    p.state || '-',
    duration(since(p.started_at, now)),
    p.queues.join(',') || '-',
    n(p.in_flight),
    n(p.processed),
    n(p.failed),
    duration(since(p.at, now)),
    duration(p.loop_lag_ms),
  ]);
  return `PROCESSES (${s.processes.length} live)\n${table(['SERVICE', 'NAME', 'HOST', 'PID', 'VERSION', 'STATE', 'UPTIME', 'QUEUES', 'IN-FLIGHT', 'PROCESSED', 'FAILED', 'HEARTBEAT', 'LOOP-LAG'], rows)}${waitingText(s)}${pausedText(s)}`;
}

/** The families worker control paused, on which process, by whom and since when (nothing when none). */
function pausedText(s: Status): string {
  const rows = s.processes.flatMap((p) =>
    Object.entries(p.paused).map(([family, mark]) => [
      p.service,
      p.name,
      p.host,
      String(p.pid),
      family,
      mark?.by ?? '?',
      mark?.at ?? '?',
    ]),
  );
  if (rows.length === 0) return '';
  return `\nPAUSED (${rows.length} ${rows.length === 1 ? 'family' : 'families'}; cmq workers resume)\n${table(['SERVICE', 'NAME', 'HOST', 'PID', 'FAMILY', 'PAUSED-BY', 'SINCE'], rows)}`;
}

/** The processes that wait for something, with what (nothing when none does). */
function waitingText(s: Status): string {
  const waiting = s.processes.filter((p) => p.waiting !== '');
  if (waiting.length === 0) return '';
  const rows = waiting.map((p) => [p.service, p.name, p.host, String(p.pid), oneLine(p.waiting, 500)]);
  return `\nWAITING (${waiting.length} ${waiting.length === 1 ? 'process' : 'processes'})\n${table(['SERVICE', 'NAME', 'HOST', 'PID', 'STATUS'], rows)}`;
}

function familiesText(s: Status, now: number): string {
  const from =
    s.families_from === 'pinger'
      ? `pinger summary of ${time(new Date(s.summary_at ?? 0))}, ${duration(since(s.summary_at, now))} old`
      : 'computed from PostgreSQL: no pinger summary';
  const byName = new Map(s.families.map((f) => [f.family, f]));
  const rows = FAMILIES.map((family) => {
    const f = byName.get(family);
    const age = f?.oldest_age_s ?? null;
    return [
      family,
      String(f?.backlog ?? 0),
      String(f?.queued ?? 0),
      String(f?.running ?? 0),
      age === null ? '-' : duration(age * 1000),
      f?.broker_depth === null || f === undefined ? '-' : String(f.broker_depth),
    ];
  });
  return `FAMILIES (${from})\n${table(['FAMILY', 'BACKLOG', 'QUEUED', 'RUNNING', 'OLDEST', 'BROKER-DEPTH'], rows)}`;
}

function tenantsText(s: Status): string {
  const present = ACTION_STATES.filter((st) => Object.values(s.tenants).some((c) => (c[st] ?? 0) > 0));
  const rows = Object.entries(s.tenants).map(([tenant, counts]) => [
    tenant,
    ...present.map((st) => String(counts[st] ?? 0)),
    String(Object.values(counts).reduce((a, b) => a + b, 0)),
  ]);
  return `TENANTS (unfinished actions by state now, finished ones over the last hour)\n${table(['TENANT', ...present.map((st) => st.toUpperCase()), 'TOTAL'], rows)}`;
}

/**
 * `cmq status`: live processes (heartbeats) and what any of them waits for, each family's work,
 * each tenant's actions by state.
 */
export function registerStatusCommand(program: Command, env: Env): void {
  withConfigDir(program.command('status'))
    .description(
      "live processes (from their heartbeats) and what they wait for, each family's backlog and oldest age, each tenant's actions by state",
    )
    .option('--json', 'one JSON object')
    .action(async (opts: StatusOpts) => {
      const s = await gatherStatus(opts, env);
      const now = Date.now();
      process.stdout.write(
        opts.json === true
          ? `${safeJson(s)}\n`
          : `${processesText(s, now)}\n${familiesText(s, now)}\n${tenantsText(s)}`,
      );
    });
}
