import type { Sql } from '@cmq/common';

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
