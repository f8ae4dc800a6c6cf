import type { Family } from '@cmq/common';

/**
 * The pinger's latest summary, as the pinger writes it to Redis (`cmq:pinger:summary`, JSON).
 * Until `@cmq/actions` exports its own `PingerSummary`, this mirrors the agreed contract.
 */
export const PINGER_SUMMARY_KEY = 'cmq:pinger:summary';

export type CanaryState = 'ok' | 'late' | 'lost' | 'pending' | 'none';

export interface DependencyHealth {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface FamilyHealth {
  consumers: number;
  backlog: number;
  queued: number;
  running: number;
  oldest_age_s: number | null;
  broker_depth: number | null;
  canary: { state: CanaryState; latency_ms: number | null; sent_at: string | null };
}

export interface PingerSummary {
  at: string;
  pinger: string;
  interval_ms: number;
  dependencies: Partial<Record<'postgres' | 'redis' | 'rabbitmq', DependencyHealth>>;
  families: Partial<Record<Family, FamilyHealth>>;
  dead_last_interval: number;
  reaped_last_interval: number;
}

/** Parses the stored JSON; a value that is not an object with `at` and `families` is refused. */
export function parseSummary(text: string): PingerSummary {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null) throw new Error('pinger summary is not a JSON object');
  const s = value as Partial<PingerSummary>;
  if (typeof s.at !== 'string' || Number.isNaN(Date.parse(s.at))) throw new Error('pinger summary has no valid "at"');
  if (typeof s.families !== 'object' || s.families === null) throw new Error('pinger summary has no "families"');
  return { dependencies: {}, dead_last_interval: 0, reaped_last_interval: 0, interval_ms: 0, pinger: '?', ...s } as PingerSummary;
}
