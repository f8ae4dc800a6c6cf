import type { Sql } from '@cmq/common';

/** One action event with what `cmq events` shows about its action. */
export interface FeedEvent {
  id: string;
  action_id: string;
  at: Date;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string | null;
  tenant_id: string | null;
  type: string | null;
  started_at: Date | null;
  created_at: Date | null;
}

export interface FeedFilter {
  tenant?: string;
  type?: string;
}

/** An event id seen missing stays watched this long: its transaction may still commit. */
const GAP_WATCH_MS = 5_000;
const MAX_GAPS = 2_000;

/** The last event id handed out (cheap: the identity sequence, not a scan); 0 when none yet. */
export async function latestEventId(sql: Sql): Promise<bigint> {
  const { rows } = await sql.query<{ last: string | null }>(
    "SELECT pg_sequence_last_value(pg_get_serial_sequence('action_events', 'id'))::text AS last",
  );
  return BigInt(rows[0]?.last ?? '0');
}

/**
 * Reads action events in id order, polling `id > last`. Ids are handed out before commit, so a
 * smaller id can commit after a larger one was read: ids skipped over are re-asked for a few
 * seconds, so a late commit is still shown, once. Filtering happens here, not in SQL, so that a
 * filtered-out event is not mistaken for a gap.
 */
export class EventFeed {
  private last: bigint;
  private readonly gaps = new Map<bigint, number>();

  constructor(
    private readonly sql: Sql,
    private readonly filter: FeedFilter,
    after: bigint,
  ) {
    this.last = after;
  }

  /** The next events (at most `limit` read), oldest first. */
  async poll(limit = 1_000): Promise<{ events: FeedEvent[]; full: boolean }> {
    const now = Date.now();
    for (const [id, seen] of this.gaps) if (now - seen > GAP_WATCH_MS) this.gaps.delete(id);
    const { rows } = await this.sql.query<FeedEvent>(
      `SELECT e.id::text, e.action_id::text, e.at, e.from_state, e.to_state, e.actor, e.reason, a.tenant_id, a.type, a.started_at, a.created_at
       FROM action_events e LEFT JOIN actions a ON a.id = e.action_id
       WHERE e.id > $1 OR e.id = ANY($2::bigint[]) ORDER BY e.id LIMIT $3`,
      [this.last.toString(), [...this.gaps.keys()].map(String), limit],
    );
    for (const r of rows) this.advance(BigInt(r.id), now);
    return { events: rows.filter((r) => this.matches(r)), full: rows.length === limit };
  }

  private advance(id: bigint, now: number): void {
    if (this.gaps.delete(id) || id <= this.last) return;
    for (let missing = this.last + 1n; missing < id && this.gaps.size < MAX_GAPS; missing += 1n)
      this.gaps.set(missing, now);
    this.last = id;
  }

  private matches(e: FeedEvent): boolean {
    return (
      (this.filter.tenant === undefined || e.tenant_id === this.filter.tenant) &&
      (this.filter.type === undefined || e.type === this.filter.type)
    );
  }
}

/** Counts by state of the actions the filter selects (the full-screen header). */
export async function stateCounts(sql: Sql, filter: FeedFilter): Promise<Record<string, number>> {
  const { rows } = await sql.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM actions WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR type = $2) GROUP BY state',
    [filter.tenant ?? null, filter.type ?? null],
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
