import {
  CANARY_TENANT,
  type CanaryReport,
  type CanaryRow,
  canaryRows,
  insertActions,
  parseRequest,
  transition,
} from '@cmq/actions';
import { FAMILIES, FINAL_STATES, type Family, type Sql, type Transactor } from '@cmq/common';

export interface CanariesOptions {
  sql: Sql;
  transaction: Transactor;
  families: readonly Family[];
  timeoutMs: number;
  /** Who sent and cancelled them, in action events. */
  actor: string;
}

interface InFlight {
  id: string;
  sentAt: Date;
}

const FINAL = new Set<string>(FINAL_STATES);

/**
 * One `ping` action per family, end to end through the relay, the broker and a subscriber.
 * Each tick reads the canary in flight: succeeded → its latency (finished_at − created_at);
 * still unfinished after the timeout → lost (cancelled so it does not linger); otherwise
 * pending. A family with no canary in flight gets a new one.
 */
export class Canaries {
  private readonly inFlight = new Map<Family, InFlight>();
  private readonly last = new Map<Family, CanaryReport>();

  constructor(private readonly opts: CanariesOptions) {}

  /** Reads the canaries in flight, sends new ones, and returns each family's report. */
  async tick(now: Date = new Date()): Promise<Record<Family, CanaryReport>> {
    const rows = await canaryRows(
      this.opts.sql,
      [...this.inFlight.values()].map((c) => c.id),
    );
    for (const [family, canary] of this.inFlight) await this.settle(family, canary, rows.get(canary.id), now);
    await this.send(
      this.opts.families.filter((f) => !this.inFlight.has(f)),
      now,
    );
    return this.reports();
  }

  /** Forgets canaries in flight (the lease was lost: whoever holds it now sends its own). */
  reset(): void {
    this.inFlight.clear();
  }

  private async settle(family: Family, canary: InFlight, row: CanaryRow | undefined, now: Date): Promise<void> {
    const sent_at = canary.sentAt.toISOString();
    const age = now.getTime() - canary.sentAt.getTime();
    if (row?.state === 'succeeded' && row.finished_at !== null) {
      const latency = row.finished_at.getTime() - row.created_at.getTime();
      this.last.set(family, { state: latency <= this.opts.timeoutMs ? 'ok' : 'late', latency_ms: latency, sent_at });
      this.inFlight.delete(family);
    } else if (row === undefined || FINAL.has(row.state) || age > this.opts.timeoutMs) {
      if (row !== undefined && !FINAL.has(row.state)) {
        await transition(
          this.opts.sql,
          canary.id,
          ['pending', 'queued', 'retrying'],
          'cancelled',
          this.opts.actor,
          `canary lost: not finished within ${this.opts.timeoutMs} ms`,
        );
      }
      this.last.set(family, { state: 'lost', latency_ms: null, sent_at });
      this.inFlight.delete(family);
    } else {
      this.last.set(family, { state: 'pending', latency_ms: this.last.get(family)?.latency_ms ?? null, sent_at });
    }
  }

  private async send(families: readonly Family[], now: Date): Promise<void> {
    if (families.length === 0) return;
    const sent_at = now.toISOString();
    const expires = new Date(now.getTime() + this.opts.timeoutMs).toISOString();
    const requests = families.map((family) => {
      const parsed = parseRequest(
        { type: 'ping', tenant: CANARY_TENANT, args: { family, sent_at }, expires, max_attempts: 1 },
        now,
      );
      if (!parsed.ok) throw new Error(`canary request refused: ${parsed.error}`);
      return parsed.request;
    });
    const ids = await insertActions(this.opts.transaction, requests, this.opts.actor);
    families.forEach((family, i) => {
      this.inFlight.set(family, { id: ids[i] as string, sentAt: now });
      if (!this.last.has(family)) this.last.set(family, { state: 'pending', latency_ms: null, sent_at });
    });
  }

  /** Each family's report as of the last tick. */
  reports(): Record<Family, CanaryReport> {
    const out = {} as Record<Family, CanaryReport>;
    for (const family of FAMILIES) {
      out[family] = this.opts.families.includes(family)
        ? (this.last.get(family) ?? { state: 'pending', latency_ms: null, sent_at: null })
        : { state: 'none', latency_ms: null, sent_at: null };
    }
    return out;
  }
}
