import { CmqError, type Family, PINGER_SUMMARY_KEY, type RedisClient, errorText } from '@cmq/common';
import { type StoredSummary, parseSummary } from './pinger-summary';
import { type PausedBy, pausedFamilies } from './worker-control';

/** One live process, from its heartbeat hash (numbers parsed; absent fields are null). */
export interface ProcessBeat {
  service: string;
  name: string;
  host: string;
  pid: number;
  version: string;
  started_at: string | null;
  at: string | null;
  queues: string[];
  in_flight: number | null;
  processed: number | null;
  failed: number | null;
  rss: number | null;
  interval_ms: number | null;
  loop_lag_ms: number | null;
  /** What the process waits for ("waiting for broker at ..."), '' when nothing. */
  waiting: string;
  /** `starting`, `running` or `draining`; '' from a release before the field. */
  state: string;
  /** Families worker control paused on this process, with who paused each and when. */
  paused: Partial<Record<Family, PausedBy>>;
}

function num(value: string | undefined): number | null {
  if (value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function toBeat(h: Record<string, string>): ProcessBeat {
  return {
    service: h.service ?? '?',
    name: h.name ?? '?',
    host: h.host ?? '?',
    pid: num(h.pid) ?? 0,
    version: h.version ?? '?',
    started_at: h.started_at ?? null,
    at: h.at ?? null,
    queues: (h.queues ?? '').split(',').filter((q) => q !== ''),
    in_flight: num(h.in_flight),
    processed: num(h.processed),
    failed: num(h.failed),
    rss: num(h.rss),
    interval_ms: num(h.interval_ms),
    loop_lag_ms: num(h.loop_lag_ms),
    waiting: h.waiting ?? '',
    state: h.state ?? '',
    paused: pausedFamilies(h.paused),
  };
}

/** Every live process: each heartbeat hash found with SCAN (never KEYS), sorted by service, name, host, pid. */
export async function readHeartbeats(redis: RedisClient): Promise<ProcessBeat[]> {
  const beats = (await redis.heartbeats.readAll()).map((h) => toBeat(h.fields));
  return beats.sort(
    (a, b) =>
      a.service.localeCompare(b.service) ||
      a.name.localeCompare(b.name) ||
      a.host.localeCompare(b.host) ||
      a.pid - b.pid,
  );
}

/** The pinger's summary, `undefined` when there is none. @throws CmqError `CMQ_ERR_SUMMARY` when it cannot be parsed. */
export async function readSummary(redis: RedisClient): Promise<StoredSummary | undefined> {
  const text = await redis.pingerSummary.read();
  if (text === undefined) return undefined;
  try {
    return parseSummary(text);
  } catch (err) {
    throw new CmqError(
      'CMQ_ERR_SUMMARY',
      `the pinger summary in redis (${PINGER_SUMMARY_KEY}) cannot be read: ${errorText(err)}`,
    );
  }
}
