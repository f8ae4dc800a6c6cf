import { FINAL_STATES, type Sql, type Transactor } from '@cmq/common';

/** A final state: the only states retention removes (lifecycle.ts, REMOVABLE_STATES). */
export type FinalState = 'succeeded' | 'failed' | 'dead' | 'expired' | 'cancelled' | 'rejected';

/** How long a final action of each state is kept after it finished (publisher.properties history.retention.*). */
export type StateRetention = Record<FinalState, number>;

/** A tenant's own retention of one state (table history_retention, `cmq history retention`). */
export interface RetentionOverride {
  tenant: string;
  state: FinalState;
  keepMs: number;
}

/**
 * What one pass of pruning removes: final actions of `state` finished before `before` (or more
 * than `keepMs` ago by PostgreSQL's clock), of `tenant` only or of every tenant but `except`.
 */
export interface PruneRule {
  state: FinalState;
  keepMs?: number;
  before?: Date;
  tenant?: string;
  except?: readonly string[];
}

/** Counts removed (or, for a dry run, that would be). */
export interface PruneCount {
  state: FinalState;
  tenant: string | null;
  actions: number;
  events: number;
}

/** The tenants' overrides, as the history_retention table holds them. */
export async function retentionOverrides(sql: Sql): Promise<RetentionOverride[]> {
  const { rows } = await sql.query<{ tenant_id: string; state: FinalState; ms: number }>(
    `SELECT tenant_id, state, extract(epoch FROM keep) * 1000 AS ms FROM history_retention ORDER BY tenant_id, state`,
  );
  return rows.map((r) => ({ tenant: r.tenant_id, state: r.state, keepMs: Number(r.ms) }));
}

/** Sets (keepMs) or clears (null) `tenant`'s retention of `state`. */
export async function setRetentionOverride(
  sql: Sql,
  tenant: string,
  state: FinalState,
  keepMs: number | null,
): Promise<void> {
  if (keepMs === null) {
    await sql.query('DELETE FROM history_retention WHERE tenant_id = $1 AND state = $2', [tenant, state]);
    return;
  }
  await sql.query(
    `INSERT INTO history_retention (tenant_id, state, keep) VALUES ($1, $2, $3 * interval '1 millisecond')
     ON CONFLICT (tenant_id, state) DO UPDATE SET keep = EXCLUDED.keep`,
    [tenant, state, keepMs],
  );
}

/**
 * The rules of the retention policy: per state, every tenant without an override of it at the
 * default, and each override on its own.
 */
export function policyRules(defaults: StateRetention, overrides: readonly RetentionOverride[]): PruneRule[] {
  return (FINAL_STATES as readonly FinalState[]).flatMap((state) => {
    const own = overrides.filter((o) => o.state === state);
    return [
      { state, keepMs: defaults[state], except: own.map((o) => o.tenant) },
      ...own.map((o) => ({ state, keepMs: o.keepMs, tenant: o.tenant })),
    ];
  });
}

const FINAL_SQL = `'succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected'`;

/** The WHERE of a rule's candidates: $1 state, $2 before, $3 keep (ms), $4 tenant, $5 except. */
const CANDIDATES = `FROM actions
  WHERE state IN (${FINAL_SQL}) AND state = $1
    AND finished_at < coalesce($2::timestamptz, now() - $3::float8 * interval '1 millisecond')
    AND ($4::text IS NULL OR tenant_id = $4) AND tenant_id <> ALL($5::text[])`;

function ruleValues(rule: PruneRule): unknown[] {
  return [rule.state, rule.before ?? null, rule.keepMs ?? null, rule.tenant ?? null, [...(rule.except ?? [])]];
}

/** How many actions `rule` would remove now. */
export async function countPrunable(sql: Sql, rule: PruneRule): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(`SELECT count(*)::text AS n ${CANDIDATES}`, ruleValues(rule));
  return Number(rows[0]?.n ?? 0);
}

/** An action's events lie between its creation and its end (a day of slack either way). */
const SLACK_MS = 86_400_000;

/**
 * One batch in one transaction: locks up to `limit` of `rule`'s oldest candidates (skipping
 * any row another transaction holds, so live work never waits), deletes their events and then
 * them. Either the whole batch goes or, on any failure or a lost connection, none of it: no
 * action is ever left without its events or events without their action. The events are looked
 * up only in the day partitions their actions' lifetimes span.
 */
export async function pruneBatch(
  transaction: Transactor,
  rule: PruneRule,
  limit: number,
): Promise<{ actions: number; events: number }> {
  return transaction(async (sql) => {
    const { rows } = await sql.query<{ ids: string[] | null; lo: Date | null; hi: Date | null }>(
      `SELECT array_agg(id::text) AS ids, min(created_at) AS lo, max(finished_at) AS hi FROM (
         SELECT id, created_at, finished_at ${CANDIDATES}
         ORDER BY finished_at LIMIT $6 FOR UPDATE SKIP LOCKED) c`,
      [...ruleValues(rule), limit],
    );
    const { ids, lo, hi } = rows[0] ?? { ids: null, lo: null, hi: null };
    if (ids === null || lo === null || hi === null) return { actions: 0, events: 0 };
    const events = await sql.query(
      'DELETE FROM action_events WHERE action_id = ANY($1::bigint[]) AND at >= $2 AND at < $3',
      [ids, new Date(lo.getTime() - SLACK_MS), new Date(hi.getTime() + SLACK_MS)],
    );
    // Retention removes final rows only (lifecycle.ts, REMOVABLE_STATES); the rows are locked.
    const actions = await sql.query(
      `DELETE FROM actions WHERE id = ANY($1::bigint[])
         AND state IN ('succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected')`,
      [ids],
    );
    return { actions: actions.rowCount ?? 0, events: events.rowCount ?? 0 };
  });
}

/**
 * Runs `rule` batch after batch until nothing is left, `signal` aborts or `goOn` (called after
 * each full batch: the keeper renews its lease there) says false. Returns what it removed.
 */
export async function pruneRule(
  transaction: Transactor,
  rule: PruneRule,
  limit: number,
  signal?: AbortSignal,
  goOn?: () => Promise<boolean>,
): Promise<PruneCount> {
  const total: PruneCount = { state: rule.state, tenant: rule.tenant ?? null, actions: 0, events: 0 };
  while (signal?.aborted !== true) {
    const done = await pruneBatch(transaction, rule, limit);
    total.actions += done.actions;
    total.events += done.events;
    if (done.actions < limit || (goOn !== undefined && !(await goOn()))) break;
  }
  return total;
}
