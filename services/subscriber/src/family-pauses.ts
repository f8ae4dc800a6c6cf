import type { PausedBy } from '@cmq/actions';
import { type AmqpConsumer, type Family, type Logger, queueName } from '@cmq/common';

/** What a pause or resume did. */
export type PauseOutcome = { outcome: 'done' | 'unchanged' | 'refused'; detail: string };

/**
 * The families worker control told this subscriber to stop consuming (`pause FAMILY`), with who
 * and when, until `resume FAMILY`. Pausing cancels that family's consumer alone: its other
 * families go on, the broker keeps the family's messages for other subscribers, and what was
 * received already runs to its end. Held in memory only: a restarted process starts unpaused.
 */
export class FamilyPauses {
  private readonly paused = new Map<Family, PausedBy>();

  constructor(
    private readonly consumer: AmqpConsumer,
    /** The families of `queues=` in subscriber.properties. */
    private readonly configured: readonly Family[],
    private readonly logger: Logger,
  ) {}

  /** The configured families not paused: what the subscriber consumes now. */
  get consuming(): Family[] {
    return this.configured.filter((f) => !this.paused.has(f));
  }

  /** Paused families: who paused each and when. */
  get byFamily(): Record<string, PausedBy> {
    return Object.fromEntries(this.paused);
  }

  async pause(family: Family, by: string): Promise<PauseOutcome> {
    if (!this.configured.includes(family))
      return { outcome: 'refused', detail: `does not consume ${family} (queues=${this.configured.join(',')})` };
    const already = this.paused.get(family);
    if (already !== undefined)
      return { outcome: 'unchanged', detail: `${family} paused already, by ${already.by} at ${already.at}` };
    const mark = { by, at: new Date().toISOString() };
    this.paused.set(family, mark);
    await this.consumer.pauseQueue(queueName(family));
    this.logger.warn({ family, by, at: mark.at }, `consumption of ${family} paused by ${by}`);
    return { outcome: 'done', detail: `${family} paused` };
  }

  async resume(family: Family, by: string): Promise<PauseOutcome> {
    if (!this.configured.includes(family))
      return { outcome: 'refused', detail: `does not consume ${family} (queues=${this.configured.join(',')})` };
    const mark = this.paused.get(family);
    if (mark === undefined) return { outcome: 'unchanged', detail: `${family} was not paused` };
    this.paused.delete(family);
    await this.consumer.resumeQueue(queueName(family));
    this.logger.info({ family, by, pausedBy: mark.by }, `consumption of ${family} resumed by ${by}`);
    return { outcome: 'done', detail: `${family} resumed (paused by ${mark.by} at ${mark.at})` };
  }
}
