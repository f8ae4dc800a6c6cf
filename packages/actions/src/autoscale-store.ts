import { CmqError, type Sql } from '@cmq/common';
import { type PolicySpec, POLICY_NAME_RE, checkPolicy } from './autoscale-policy';
import type { PastDecision, ScaleAction } from './autoscale-decide';
import { PLATFORM_TENANT } from './nodes';

/** A policy as stored (migration 018). */
export interface PolicyRow {
  name: string;
  account_id: string;
  spec: PolicySpec;
  enabled: boolean;
  launch_failures: number;
  breaker_open_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type DecisionKind = 'out' | 'in' | 'hold' | 'breaker' | 'drain' | 'orphan';

/** One row of policy_decisions. */
export interface DecisionRow {
  id: string;
  policy: string;
  at: Date;
  actor: string;
  kind: DecisionKind;
  inputs: Record<string, unknown>;
  needed: number | null;
  current: number;
  wanted: number;
  decided: number;
  reason: string;
  actions: string[];
}

export type NewDecision = Omit<DecisionRow, 'id' | 'at' | 'actions'>;

const POLICY_COLUMNS =
  'name, account_id::text, spec, enabled, launch_failures, breaker_open_until, created_at, updated_at';
const DECISION_COLUMNS =
  'id::text, policy, at, actor, kind, inputs, needed, current, wanted, decided, reason, actions::text[]';

function policyError(message: string): CmqError {
  return new CmqError('CMQ_ERR_POLICY', message);
}

/** Validates a spec; @throws CmqError CMQ_ERR_POLICY naming each offending field. */
export function validPolicy(name: string, input: unknown): PolicySpec {
  if (!POLICY_NAME_RE.test(name))
    throw policyError(`policy name "${name}": use 1-63 of a-z, 0-9, _ . and -, starting with a letter or digit`);
  const checked = checkPolicy(input);
  if (!checked.ok) throw policyError(`policy ${name}: ${checked.error}`);
  return checked.spec;
}

async function checkAccount(sql: Sql, name: string, account: string): Promise<void> {
  const { rows } = await sql.query<{ tenant_id: string }>('SELECT tenant_id FROM accounts WHERE id = $1', [account]);
  const tenant = rows[0]?.tenant_id;
  if (tenant === undefined) throw policyError(`policy ${name}: account: no account ${account} (cmq accounts list)`);
  if (tenant !== PLATFORM_TENANT)
    throw policyError(
      `policy ${name}: account: account ${account} is tenant ${tenant}'s; the fleet's account must be tenant ${PLATFORM_TENANT}'s`,
    );
}

/** @throws CmqError CMQ_ERR_POLICY for an invalid policy, an account not the platform's, or a taken name. */
export async function addPolicy(sql: Sql, name: string, input: unknown): Promise<PolicySpec> {
  const spec = validPolicy(name, input);
  await checkAccount(sql, name, spec.account);
  const { rowCount } = await sql.query(
    'INSERT INTO policies (name, account_id, spec) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
    [name, spec.account, JSON.stringify(spec)],
  );
  if (rowCount === 0) throw policyError(`policy "${name}" already exists (cmq policies set to change it)`);
  return spec;
}

/** Replaces the given fields of a policy, validating the whole result. @throws CmqError CMQ_ERR_POLICY. */
export async function setPolicy(sql: Sql, name: string, changes: Record<string, unknown>): Promise<PolicySpec> {
  const row = await getPolicy(sql, name);
  if (row === undefined) throw policyError(`no policy "${name}" (cmq policies list)`);
  const spec = validPolicy(name, { ...row.spec, ...changes });
  await checkAccount(sql, name, spec.account);
  await sql.query('UPDATE policies SET spec = $2, account_id = $3, updated_at = now() WHERE name = $1', [
    name,
    JSON.stringify(spec),
    spec.account,
  ]);
  return spec;
}

/** Returns whether the policy exists. */
export async function setPolicyEnabled(sql: Sql, name: string, enabled: boolean): Promise<boolean> {
  const { rowCount } = await sql.query('UPDATE policies SET enabled = $2, updated_at = now() WHERE name = $1', [
    name,
    enabled,
  ]);
  return rowCount === 1;
}

export async function listPolicies(sql: Sql): Promise<PolicyRow[]> {
  return (await sql.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM policies ORDER BY name`)).rows;
}

export async function getPolicy(sql: Sql, name: string): Promise<PolicyRow | undefined> {
  return (await sql.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM policies WHERE name = $1`, [name])).rows[0];
}

/** Writes a decision row; returns its id. */
export async function insertDecision(sql: Sql, d: NewDecision): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(
    `INSERT INTO policy_decisions (policy, actor, kind, inputs, needed, current, wanted, decided, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id::text`,
    [d.policy, d.actor, d.kind, JSON.stringify(d.inputs), d.needed, d.current, d.wanted, d.decided, d.reason],
  );
  return (rows[0] as { id: string }).id;
}

/** Records the actions a decision emitted. */
export async function setDecisionActions(sql: Sql, id: string, actions: readonly string[]): Promise<void> {
  await sql.query('UPDATE policy_decisions SET actions = $2::bigint[] WHERE id = $1', [id, actions]);
}

/** Decisions, newest first: a policy's, those of the policies watching a family, or all. */
export async function listDecisions(
  sql: Sql,
  opts: { policy?: string; family?: string; limit: number },
): Promise<DecisionRow[]> {
  const { rows } = await sql.query<DecisionRow>(
    `SELECT ${DECISION_COLUMNS} FROM policy_decisions d WHERE ($1::text IS NULL OR policy = $1)
       AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM policies p WHERE p.name = d.policy AND p.spec->'families' ? $2))
     ORDER BY id DESC LIMIT $3`,
    [opts.policy ?? null, opts.family ?? null, opts.limit],
  );
  return rows;
}

/**
 * A policy's scaling decisions of the last `sinceS` seconds as decide() takes them: what a new
 * holder of the scheduling lease starts from (launches of the last hour, the stabilization window).
 */
export async function pastDecisions(sql: Sql, policy: string, sinceS: number): Promise<PastDecision[]> {
  const { rows } = await sql.query<{ at: Date; needed: number | null; kind: DecisionKind; count: number }>(
    `SELECT at, needed, kind, abs(decided - current)::int AS count FROM policy_decisions
     WHERE policy = $1 AND kind IN ('out', 'in', 'hold') AND at > now() - make_interval(secs => $2) ORDER BY id`,
    [policy, sinceS],
  );
  return rows.map((r) => ({
    at: r.at.getTime(),
    needed: r.needed ?? 0,
    action: r.kind as ScaleAction,
    count: r.count,
  }));
}
