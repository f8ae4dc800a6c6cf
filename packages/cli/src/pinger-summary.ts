import { PINGER_SUMMARY_KEY, type PingerSummary } from '@cmq/actions';

export { PINGER_SUMMARY_KEY };
export type { FamilyHealth } from '@cmq/actions';

/**
 * The pinger's summary as read back from Redis: the pinger writes every family and dependency,
 * but a reader does not count on it (another release of the pinger may write fewer).
 */
export type StoredSummary = Omit<PingerSummary, 'families' | 'dependencies'> & {
  families: Partial<PingerSummary['families']>;
  dependencies: Partial<PingerSummary['dependencies']>;
};

/** Parses the stored JSON; a value that is not an object with a valid `at` and `families` is refused. */
export function parseSummary(text: string): StoredSummary {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null) throw new Error('pinger summary is not a JSON object');
  const s = value as Partial<StoredSummary>;
  if (typeof s.at !== 'string' || Number.isNaN(Date.parse(s.at))) throw new Error('pinger summary has no valid "at"');
  if (typeof s.families !== 'object' || s.families === null) throw new Error('pinger summary has no "families"');
  return { dependencies: {}, dead_last_interval: 0, reaped_last_interval: 0, interval_ms: 0, pinger: '?', ...s } as StoredSummary;
}
