import type { Sql } from '@cmq/common';

export type FleetState = 'launching' | 'starting' | 'ready' | 'draining' | 'terminating' | 'terminated' | 'failed';

/** One server of the fleet (migration 018), with what the executor needs of its launch and last step. */
export interface FleetServer {
  launch_action_id: string;
  policy: string;
  decision_id: string;
  account_id: string;
  server_id: string | null;
  state: FleetState;
  step_action_id: string | null;
  drain_started_at: Date | null;
  created_at: Date;
  /** The launch action's state. */
  launch_state: string;
  /** The recorded server (servers.launch_action_id), once the launch recorded it. */
  recorded_server: string | null;
  recorded_state: string | null;
  guest_id: string | null;
  /** The state and error of the last step (node.start, node.stop, server.terminate). */
  step_state: string | null;
  step_error: string | null;
}

/** Every server of the fleet not terminated or failed, oldest first. */
export async function liveFleet(sql: Sql): Promise<FleetServer[]> {
  const { rows } = await sql.query<FleetServer>(
    `SELECT f.launch_action_id::text, f.policy, f.decision_id::text, f.account_id::text, f.server_id, f.state,
       f.step_action_id::text, f.drain_started_at, f.created_at, l.state AS launch_state,
       s.server_id AS recorded_server, s.state AS recorded_state, s.guest_id, st.state AS step_state, st.error AS step_error
     FROM fleet_servers f
     JOIN actions l ON l.id = f.launch_action_id
     LEFT JOIN servers s ON s.launch_action_id = f.launch_action_id
     LEFT JOIN actions st ON st.id = f.step_action_id
     WHERE f.state NOT IN ('terminated', 'failed') ORDER BY f.created_at, f.launch_action_id`,
  );
  return rows;
}

/** Records a server launched by a decision (in the transaction that inserted its server.launch). */
export async function addFleetServer(
  sql: Sql,
  s: { launchActionId: string; policy: string; decisionId: string; account: string },
): Promise<void> {
  await sql.query(
    `INSERT INTO fleet_servers (launch_action_id, policy, decision_id, account_id, state)
     VALUES ($1, $2, $3, $4, 'launching') ON CONFLICT (launch_action_id) DO NOTHING`,
    [s.launchActionId, s.policy, s.decisionId, s.account],
  );
}

/** Moves a fleet server on (server id, the step action, the drain's start are kept unless given). */
export async function setFleetState(
  sql: Sql,
  launchActionId: string,
  state: FleetState,
  more: { serverId?: string; stepActionId?: string; drainStarted?: boolean } = {},
): Promise<void> {
  await sql.query(
    `UPDATE fleet_servers SET state = $2, server_id = COALESCE($3, server_id), step_action_id = COALESCE($4::bigint, step_action_id),
       drain_started_at = CASE WHEN $5 THEN now() ELSE drain_started_at END, updated_at = now()
     WHERE launch_action_id = $1`,
    [launchActionId, state, more.serverId ?? null, more.stepActionId ?? null, more.drainStarted === true],
  );
}

/**
 * Counts a launch that failed (opening the breaker at `threshold` in a row, for `openS` seconds)
 * or one that succeeded (closing the count). Returns whether this call opened the breaker.
 */
export async function countLaunch(
  sql: Sql,
  policy: string,
  ok: boolean,
  threshold: number,
  openS: number,
): Promise<boolean> {
  if (ok) {
    await sql.query('UPDATE policies SET launch_failures = 0 WHERE name = $1 AND launch_failures > 0', [policy]);
    return false;
  }
  const { rows } = await sql.query<{ opened: boolean }>(
    `UPDATE policies SET launch_failures = launch_failures + 1,
       breaker_open_until = CASE WHEN launch_failures + 1 >= $2 THEN now() + make_interval(secs => $3) ELSE breaker_open_until END
     WHERE name = $1 RETURNING launch_failures = $2 AS opened`,
    [policy, threshold, openS],
  );
  return rows[0]?.opened === true;
}

/** Closes an open breaker whose time has passed (the next launch tries again); returns whether it did. */
export async function closeBreaker(sql: Sql, policy: string): Promise<boolean> {
  const { rowCount } = await sql.query(
    `UPDATE policies SET breaker_open_until = NULL, launch_failures = 0
     WHERE name = $1 AND breaker_open_until IS NOT NULL AND breaker_open_until <= now()`,
    [policy],
  );
  return rowCount === 1;
}

/** The backlog of some families, and how fast work arrives and completes (the last `windowS` seconds). */
export interface BacklogFacts {
  backlog: number;
  oldest_age_s: number;
  arrived: number;
  completed: number;
}

export async function backlogFacts(sql: Sql, families: readonly string[], windowS: number): Promise<BacklogFacts> {
  const { rows } = await sql.query<BacklogFacts>(
    `SELECT
       (SELECT count(*)::int FROM actions WHERE family = ANY($1) AND (state = 'queued' OR (state IN ('pending', 'retrying') AND not_before <= now()))) AS backlog,
       COALESCE((SELECT extract(epoch FROM now() - min(GREATEST(created_at, not_before)))::float FROM actions
         WHERE family = ANY($1) AND (state = 'queued' OR (state IN ('pending', 'retrying') AND not_before <= now()))), 0) AS oldest_age_s,
       (SELECT count(*)::int FROM actions WHERE family = ANY($1) AND created_at > now() - make_interval(secs => $2)) AS arrived,
       (SELECT count(*)::int FROM actions WHERE family = ANY($1) AND finished_at > now() - make_interval(secs => $2)
          AND state IN ('succeeded', 'failed', 'dead')) AS completed`,
    [families, windowS],
  );
  return rows[0] as BacklogFacts;
}

/**
 * Servers of an account that a sync recorded (resources of kind server, not gone) for longer than
 * `graceS` seconds and that the fleet does not know: launched and never recorded (a crash between
 * the launch and its record), or launched by hand into the fleet's account.
 */
export async function unknownServers(sql: Sql, account: string, graceS: number): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>(
    `SELECT r.resource_id AS id FROM resources r
     WHERE r.account_id = $1 AND r.kind = 'server' AND r.gone_at IS NULL AND COALESCE(r.state->>'state', '') <> 'terminated'
       AND r.first_seen < now() - make_interval(secs => $2)
       AND NOT EXISTS (SELECT 1 FROM fleet_servers f WHERE f.account_id = r.account_id AND f.server_id = r.resource_id)
       AND NOT EXISTS (SELECT 1 FROM servers s JOIN fleet_servers f ON f.launch_action_id = s.launch_action_id
                       WHERE s.account_id = r.account_id AND s.server_id = r.resource_id)`,
    [account, graceS],
  );
  return rows.map((r) => r.id);
}

/** The bootstrap commands of a fleet server's node, `{server}` replaced by its id. */
export interface NodeCommands {
  start: string;
  stop: string;
  status: string;
}

/**
 * Registers a fleet server as a node, from the guest its launch registered (same address, login,
 * encrypted key and pinned host key). Nothing when the guest has no host key pinned yet (a first
 * contact pins it). Returns whether the node is there.
 */
export async function registerFleetNode(
  sql: Sql,
  tenant: string,
  guestId: string,
  node: string,
  cmds: NodeCommands,
): Promise<boolean> {
  const { rowCount } = await sql.query(
    `INSERT INTO nodes (name, address, port, "user", private_key, host_key_fingerprint, start_cmd, stop_cmd, status_cmd, active)
     SELECT $3, g.address, g.port, g."user", g.private_key, g.host_key_fingerprint, $4, $5, $6, true
     FROM guests g WHERE g.tenant_id = $1 AND g.id = $2 AND g.host_key_fingerprint IS NOT NULL
     ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, port = EXCLUDED.port, "user" = EXCLUDED."user",
       private_key = EXCLUDED.private_key, host_key_fingerprint = EXCLUDED.host_key_fingerprint,
       start_cmd = EXCLUDED.start_cmd, stop_cmd = EXCLUDED.stop_cmd, status_cmd = EXCLUDED.status_cmd, updated_at = now()`,
    [tenant, guestId, node, cmds.start, cmds.stop, cmds.status],
  );
  return rowCount === 1;
}

/** Whether an unknown server was already reported in this phase (`found`, `terminating`). */
export async function hasOrphanReport(sql: Sql, policy: string, server: string, phase: string): Promise<boolean> {
  const { rowCount } = await sql.query(
    `SELECT 1 FROM policy_decisions WHERE policy = $1 AND kind = 'orphan' AND inputs->>'server' = $2 AND inputs->>'phase' = $3 LIMIT 1`,
    [policy, server, phase],
  );
  return rowCount === 1;
}
