import type { Sql } from '@cmq/common';

/**
 * The store of recovery (see recovery.ts for the rules): what tells a worker is alive, and the
 * statements that give a gone worker's running actions back to the relay.
 */

/** Advisory lock class that a live worker holds on its own id (see migration 002, `workers`). */
export const WORKER_LOCK = 7301;

/**
 * SQL: the worker whose id is in `column` is alive (its session holds its lock). pg_locks spans
 * the whole server, and advisory locks belong to one database: match this database, or a worker
 * of the same id in another database would look alive. The claim's takeover uses it too.
 */
export function workerAlive(column: string): string {
  return `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = ${WORKER_LOCK} AND l.objid = ${column}::oid AND l.objsubid = 2 AND l.granted)`;
}

/**
 * Registers a worker; its id is what it locks (WORKER_LOCK, id) in its own session for its
 * lifetime, which is what tells recovery and the claim's takeover that it is alive.
 */
export async function registerWorker(
  sql: Sql,
  w: { service: string; name: string; host: string; pid: number },
): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(
    'INSERT INTO workers (service, name, host, pid) VALUES ($1, $2, $3, $4) RETURNING id::text',
    [w.service, w.name, w.host, w.pid],
  );
  return (rows[0] as { id: string }).id;
}

/** Running actions whose worker's lock is gone: candidates for {@link reapOrphans}. */
export async function orphanedRunning(sql: Sql, limit = 1000): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>(
    `SELECT a.id::text FROM actions a
     WHERE a.state = 'running' AND NOT ${workerAlive('a.worker_id')}
     LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}

/**
 * Sends running actions whose worker is gone (no lock: its process and database session ended)
 * back to `pending`, fenced on the lock being still gone, with an event naming the worker. The
 * caller passes only ids that were orphaned at two looks some seconds apart, so a database
 * restart, after which live workers take their locks again, reaps nothing. Wakes the relay.
 */
export async function reapOrphans(sql: Sql, ids: readonly string[], actor: string): Promise<number> {
  if (ids.length === 0) return 0;
  const { rows } = await sql.query<{ n: number }>(
    `WITH old AS (
       SELECT a.id, a.worker FROM actions a
       WHERE a.id = ANY($1::bigint[]) AND a.state = 'running' AND NOT ${workerAlive('a.worker_id')}
       FOR UPDATE SKIP LOCKED),
     -- transition recovery: running -> pending
     upd AS (UPDATE actions a SET state = 'pending', worker_id = NULL, updated_at = now() FROM old WHERE a.id = old.id RETURNING a.id, old.worker),
     ev AS (INSERT INTO action_events (action_id, from_state, to_state, actor, reason)
            SELECT id, 'running', 'pending', $2, 'reaped: worker ' || COALESCE(worker, '?') || ' is gone (its database session ended)' FROM upd)
     SELECT count(*)::int AS n FROM upd`,
    [ids, actor],
  );
  const n = rows[0]?.n ?? 0;
  // The relay that reaped goes on by itself; the notice wakes the other relays to send the work.
  if (n > 0) await sql.query("SELECT pg_notify('cmq_relay', 'reap')");
  return n;
}

/** A worker (row of `workers`) that has actions `running`. */
export interface BusyWorker {
  id: string;
  service: string;
  name: string;
  host: string;
  pid: number;
  running: number;
}

/** `<service>:<name>@<host>:<pid>`, as workers name themselves in action events. */
export function workerLabel(w: Pick<BusyWorker, 'service' | 'name' | 'host' | 'pid'>): string {
  return `${w.service}:${w.name}@${w.host}:${w.pid}`;
}

/** Every worker that holds running actions, with how many. */
export async function busyWorkers(sql: Sql): Promise<BusyWorker[]> {
  const { rows } = await sql.query<BusyWorker>(
    `SELECT w.id::text, w.service, w.name, w.host, w.pid, r.running
     FROM (SELECT worker_id, count(*)::int AS running FROM actions WHERE state = 'running' AND worker_id IS NOT NULL GROUP BY worker_id) r
     JOIN workers w ON w.id = r.worker_id ORDER BY w.id`,
  );
  return rows;
}

/**
 * Puts every action still running on `workerId` back to `pending` (fenced: a row that changed
 * meanwhile is left alone, and the worker's late commit is refused because the row no longer
 * runs on it), each with an event giving `reason`; wakes the relay. Returns the ids reaped.
 */
export async function reapWorker(sql: Sql, workerId: string, actor: string, reason: string): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>(
    `WITH upd AS (
       -- transition recovery: running -> pending
       UPDATE actions SET state = 'pending', worker_id = NULL, updated_at = now()
       WHERE state = 'running' AND worker_id = $1 RETURNING id
     ), ev AS (
       INSERT INTO action_events (action_id, from_state, to_state, actor, reason) SELECT id, 'running', 'pending', $2, $3 FROM upd
     )
     SELECT id::text FROM upd`,
    [workerId, actor, reason],
  );
  if (rows.length > 0) await sql.query("SELECT pg_notify('cmq_relay', 'reap')");
  return rows.map((r) => r.id);
}

/** Why an action is no longer running on a worker whose late commit was refused. */
export interface TakenAway {
  id: string;
  /** Its state now. */
  state: string;
  /** The worker it is running on now, if any. */
  worker: string | null;
  /** The reason of its latest recovery or takeover event written by another than `worker`; null when none. */
  reason: string | null;
  /** Who wrote that event (a pinger, a publisher's recovery, the subscriber that took it over). */
  by: string | null;
}

/**
 * For actions whose commit by `worker` the fence refused: their state now and the latest event
 * that took them from a running worker (recovery: running -> pending; takeover: running ->
 * running), not counting `worker`'s own, so that the refusing side can log the reaper's reason.
 */
export async function takenAway(sql: Sql, ids: readonly string[], worker: string): Promise<TakenAway[]> {
  const { rows } = await sql.query<TakenAway>(
    `SELECT a.id::text, a.state, CASE WHEN a.state = 'running' THEN a.worker END AS worker, e.reason, e.actor AS by
     FROM actions a
     LEFT JOIN LATERAL (
       SELECT ev.reason, ev.actor FROM action_events ev
       WHERE ev.action_id = a.id AND ev.from_state = 'running' AND ev.to_state IN ('pending', 'running')
         AND ev.actor <> $2
       ORDER BY ev.id DESC LIMIT 1
     ) e ON TRUE
     WHERE a.id = ANY($1::bigint[])`,
    [ids, worker],
  );
  return rows;
}

/** A registered worker whose lock is gone: stopped (gone), or long stopped (retired). */
export interface GoneWorker {
  service: string;
  name: string;
  host: string;
  pid: number;
  started_at: Date;
}

/**
 * Workers that registered but are not alive any more (their lock is gone): those started
 * within `recentMs` are listed (at most `limit`, newest first) as gone; older ones only counted
 * as retired, so a fleet that autoscaled for months does not pile up on any page.
 */
export async function goneWorkers(
  sql: Sql,
  recentMs: number,
  limit = 50,
): Promise<{ gone: GoneWorker[]; retired: number }> {
  const [gone, retired] = await Promise.all([
    sql.query<GoneWorker>(
      `SELECT service, name, host, pid, started_at FROM workers w
       WHERE started_at > now() - $1 * interval '1 millisecond' AND NOT ${workerAlive('w.id')}
       ORDER BY id DESC LIMIT $2`,
      [recentMs, limit],
    ),
    sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM workers w
       WHERE started_at <= now() - $1 * interval '1 millisecond' AND NOT ${workerAlive('w.id')}`,
      [recentMs],
    ),
  ]);
  return { gone: gone.rows, retired: retired.rows[0]?.n ?? 0 };
}
