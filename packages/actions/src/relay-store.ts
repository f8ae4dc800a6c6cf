import { FAMILIES, type Family, type Sql, type Transactor } from '@cmq/common';
import { NOT_EXPIRED } from './expiry';
import { pickFair } from './fair-share';

export interface DueAction {
  id: string;
  tenant_id: string;
  type: string;
  family: Family;
  args: unknown;
  /** pending or retrying: what the `queued` event says it came from. */
  state?: string;
}

export interface RelayLimits {
  /** Most actions of a family queued or running at once. */
  window: number;
  /** Most actions of one tenant in one family queued or running at once. */
  tenantCap: number;
  /** Most actions moved in one cycle. */
  batchSize: number;
}

/** Advisory lock class of the relay: one relay at a time per family (objid = family index). */
const RELAY_LOCK = 7302;

const CANDIDATES = `
SELECT a.id::text, a.tenant_id, a.type, a.family, a.args, a.state
FROM tenants t CROSS JOIN LATERAL (
  SELECT id, tenant_id, type, family, args, state FROM actions
  WHERE family = $1 AND tenant_id = t.id AND state IN ('pending', 'retrying') AND not_before <= now()
    AND ${NOT_EXPIRED}
  ORDER BY priority DESC, not_before, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
) a`;

/**
 * Marks the chosen rows queued, with their events, in one statement. This transaction locked
 * them (FOR UPDATE) while they were pending or retrying, so nothing else has changed them: the
 * update needs no second look at their state, and their previous state comes with the ids. The
 * rows are found by primary key only (`a.id = ANY($1)`): a state condition here would let the
 * planner scan a partial index of every due row and filter it by id.
 */
const MARK_QUEUED = `
WITH chosen AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS c(id, from_state)),
moved AS (
  -- transition relay: pending|retrying -> queued
  UPDATE actions a SET state = 'queued', queued_at = now(), updated_at = now()
  FROM chosen WHERE a.id = ANY($1::bigint[]) AND a.id = chosen.id
  RETURNING a.id, chosen.from_state
)
INSERT INTO action_events (action_id, from_state, to_state, actor) SELECT id, from_state, 'queued', $3 FROM moved`;

async function inflightByTenant(sql: Sql, family: Family): Promise<Map<string, number>> {
  const { rows } = await sql.query<{ tenant_id: string; n: number }>({
    name: 'cmq_relay_inflight',
    text: "SELECT tenant_id, count(*)::int AS n FROM actions WHERE family = $1 AND state IN ('queued', 'running') GROUP BY tenant_id",
    values: [family],
  });
  return new Map(rows.map((r) => [r.tenant_id, r.n]));
}

/**
 * One relay cycle for one family, in one transaction: lock the family (another relay holding
 * it means this one skips it), choose due actions fairly within the window, `publish` them (it
 * resolves once the broker confirmed every one), then mark them queued. If publishing fails the
 * transaction rolls back and the rows stay due; a message published twice is harmless because
 * a subscriber's claim runs an action once.
 * @returns how many actions were moved (0 also when another relay holds the family).
 */
export function relayFamily(
  transaction: Transactor,
  family: Family,
  limits: RelayLimits,
  actor: string,
  publish: (rows: DueAction[]) => Promise<void>,
  /** Told how many of the family's actions were queued or running before this cycle. */
  observeInflight?: (total: number) => void,
): Promise<number> {
  return transaction(async (sql) => {
    const lock = await sql.query<{ ok: boolean }>({
      name: 'cmq_relay_lock',
      text: 'SELECT pg_try_advisory_xact_lock($1, $2) AS ok',
      values: [RELAY_LOCK, FAMILIES.indexOf(family)],
    });
    if (lock.rows[0]?.ok !== true) return 0;
    const inflight = await inflightByTenant(sql, family);
    const total = [...inflight.values()].reduce((a, b) => a + b, 0);
    observeInflight?.(total);
    const free = Math.min(limits.batchSize, limits.window - total);
    if (free <= 0) return 0;
    const { rows } = await sql.query<DueAction>({
      name: 'cmq_relay_candidates',
      text: CANDIDATES,
      values: [family, Math.min(free, limits.tenantCap)],
    });
    if (rows.length === 0) return 0;
    const byTenant = new Map<string, DueAction[]>();
    for (const row of rows) {
      const list = byTenant.get(row.tenant_id);
      if (list === undefined) byTenant.set(row.tenant_id, [row]);
      else list.push(row);
    }
    const chosen = pickFair(byTenant, inflight, free, limits.tenantCap);
    if (chosen.length === 0) return 0;
    await publish(chosen);
    // Marking `queued` commits asynchronously: if PostgreSQL crashes before the WAL reaches
    // disk, the rows are pending or retrying again and go out a second time, which is harmless
    // (the subscriber's claim runs an action once; a row already final is acked unrun). The
    // outcome commits that follow are synchronous and flush this WAL with theirs. Intake and
    // outcomes never commit asynchronously.
    await sql.query('SET LOCAL synchronous_commit = off');
    await sql.query({
      name: 'cmq_relay_mark_queued',
      text: MARK_QUEUED,
      values: [chosen.map((r) => r.id), chosen.map((r) => r.state ?? 'pending'), actor],
    });
    return chosen.length;
  });
}

/**
 * Milliseconds until the next pending or retrying action that was not due when created comes due
 * (undefined: none waiting). Actions due at creation are left out: they are due now, which the
 * relay's scan sees, and the index behind this query (actions_next_due, migration 010) leaves them
 * out so that submitting one costs a single index entry.
 */
export async function msUntilNextDue(sql: Sql): Promise<number | undefined> {
  const { rows } = await sql.query<{ ms: number | null }>(
    "SELECT (extract(epoch FROM min(not_before) - now()) * 1000)::int AS ms FROM actions WHERE state IN ('pending', 'retrying') AND not_before > created_at",
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Math.max(0, ms);
}
