import type { Redis } from 'ioredis';
import { PINGER_SUMMARY_KEY } from '../names';

/** The pinger's latest summary, a JSON string at {@link PINGER_SUMMARY_KEY} (see PingerSummary in @cmq/actions). */
export class PingerSummaryStore {
  constructor(private readonly redis: Redis) {}

  /** Replaces the summary; it expires after `ttlMs`, so a summary that is there is at most that old. */
  async write(json: string, ttlMs: number): Promise<void> {
    await this.redis.set(PINGER_SUMMARY_KEY, json, 'PX', ttlMs);
  }

  /** The summary's JSON text, undefined when there is none. */
  async read(): Promise<string | undefined> {
    return (await this.redis.get(PINGER_SUMMARY_KEY)) ?? undefined;
  }
}
