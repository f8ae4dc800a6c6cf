import {
  type CheckResult,
  type CheckThresholds,
  type FamilyCounts,
  type GoneWorker,
  type HistoryPoint,
  NAGIOS_WORDS,
  type ProcessBeat,
  type StoredSummary,
  consumersOf,
  evaluate,
  familyCounts,
  goneWorkers,
  historySeries,
  readHeartbeats,
  readSummary,
  throughputSeries,
} from '@cmq/actions';
import { FAMILIES, type Family } from '@cmq/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { scopedTenant } from '../scope';

/** Stopped workers stay listed as gone this long after they started; older ones are only counted, as retired. */
const GONE_LISTED_MS = 24 * 3_600_000;
/** The charts' window and bucket. */
const CHART_WINDOW_MS = 3 * 3_600_000;
const THROUGHPUT_BUCKET_S = 60;

export interface ProcessView extends ProcessBeat {
  /** Seconds since its last heartbeat. */
  age_s: number | null;
  /** `gone` once its heartbeat is older than two intervals (about to expire). */
  shown_state: string;
}

export interface FamilyView extends FamilyCounts {
  family: Family;
  subscribers: number;
  canary_ms: number | null;
  canary_state: string | null;
}

export interface OverviewView {
  /** Null for a principal bound to a tenant: the platform's processes and families are not theirs to see. */
  platform: {
    processes: ProcessView[];
    gone: GoneWorker[];
    retired: number;
    families: FamilyView[];
    verdict: { state: string; text: string };
    mode: string;
    summary_at: string | null;
  } | null;
}

export interface ChartsView {
  families: readonly Family[];
  history: HistoryPoint[];
  throughput: Array<{ at: Date; family: string; n: number }>;
}

function processView(b: ProcessBeat, now: number): ProcessView {
  const at = b.at === null ? NaN : Date.parse(b.at);
  const age = Number.isNaN(at) ? null : Math.max(0, Math.round((now - at) / 100) / 10);
  const interval = (b.interval_ms ?? 2_000) / 1000;
  return { ...b, age_s: age, shown_state: age !== null && age > 2 * interval ? 'gone' : b.state || 'running' };
}

function verdictOf(
  thresholds: CheckThresholds,
  summary: StoredSummary | undefined,
  beats: ProcessBeat[],
  postgresError: string | undefined,
): CheckResult {
  return evaluate({ families: FAMILIES, summary, beats, postgresError, thresholds, now: Date.now() });
}

/** GET / and /api/overview: processes (live, gone, retired), families, `cmq check`'s verdict, the mode. */
export function registerOverview(app: FastifyInstance, ctx: ConsoleContext, thresholds: CheckThresholds): void {
  const load = async (req: FastifyRequest): Promise<OverviewView> => {
    if (scopedTenant(req, undefined) !== null) return { platform: null };
    const sql = ctx.database.sql;
    const [beats, summary, counts, workers] = await Promise.all([
      readHeartbeats(ctx.redis),
      readSummary(ctx.redis).catch(() => undefined),
      familyCounts(sql),
      goneWorkers(sql, GONE_LISTED_MS),
    ]);
    const now = Date.now();
    const verdict = verdictOf(thresholds, summary, beats, undefined);
    return {
      platform: {
        processes: beats.map((b) => processView(b, now)),
        gone: workers.gone,
        retired: workers.retired,
        families: FAMILIES.map((f) => ({
          family: f,
          ...counts[f],
          subscribers: consumersOf(beats, f),
          canary_ms: summary?.families[f]?.canary.latency_ms ?? null,
          canary_state: summary?.families[f]?.canary.state ?? null,
        })),
        verdict: { state: NAGIOS_WORDS[verdict.code], text: verdict.text },
        mode: ctx.config.provisioning.mode,
        summary_at: summary?.at ?? null,
      },
    };
  };
  view<OverviewView>(app, '/', 'overview', 'Overview', load);
  app.get('/api/charts', async (req, reply): Promise<ChartsView | undefined> => {
    if (scopedTenant(req, undefined) !== null) {
      await reply.code(403).send({ error: 'the platform charts are not shown to a user bound to a tenant' });
      return undefined;
    }
    const sql = ctx.database.sql;
    const [history, throughput] = await Promise.all([
      historySeries(sql, CHART_WINDOW_MS),
      throughputSeries(sql, CHART_WINDOW_MS, THROUGHPUT_BUCKET_S),
    ]);
    return { families: FAMILIES, history, throughput };
  });
}
