import type { PingerSummary, WaitingProcess } from './health';

/**
 * The pinger's summary as read back from Redis: the pinger writes every family and dependency,
 * but a reader does not count on it (another release of the pinger may write fewer).
 */
export type StoredSummary = Omit<PingerSummary, 'families' | 'dependencies'> & {
  families: Partial<PingerSummary['families']>;
  dependencies: Partial<PingerSummary['dependencies']>;
};

/** The well-formed entries of a summary's `waiting` (none from a pinger of a release before it). */
function waitingOf(value: unknown): WaitingProcess[] {
  if (!Array.isArray(value)) return [];
  return value.filter((w): w is WaitingProcess => {
    const x = w as Partial<WaitingProcess> | null;
    return (
      typeof x === 'object' &&
      x !== null &&
      typeof x.service === 'string' &&
      typeof x.name === 'string' &&
      typeof x.host === 'string' &&
      typeof x.waiting === 'string' &&
      x.waiting !== ''
    );
  });
}

/**
 * Parses the stored JSON; a value that is not an object with a valid `at` and `families` is
 * refused. A missing or malformed `waiting` reads as none.
 */
export function parseSummary(text: string): StoredSummary {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null) throw new Error('pinger summary is not a JSON object');
  const s = value as Partial<StoredSummary>;
  if (typeof s.at !== 'string' || Number.isNaN(Date.parse(s.at))) throw new Error('pinger summary has no valid "at"');
  if (typeof s.families !== 'object' || s.families === null) throw new Error('pinger summary has no "families"');
  return {
    dependencies: {},
    dead_last_interval: 0,
    reaped_last_interval: 0,
    interval_ms: 0,
    pinger: '?',
    ...s,
    waiting: waitingOf(s.waiting),
  } as StoredSummary;
}
