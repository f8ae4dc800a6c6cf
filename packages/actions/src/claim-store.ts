import { CmqError, type Sql, type Transactor, errorText } from '@cmq/common';
import {
  MAX_ARGUMENT_BYTES,
  jsonDocArray,
  jsonTextArray,
  sizeRanges,
  storableJson,
  storableText,
  utf8Bound,
} from './storable';
import type { RunOutcome } from './lifecycle';
import { workerAlive } from './recovery-store';

/** An action a worker now owns, as claimed. */
export interface ClaimedAction {
  id: string;
  tenant_id: string;
  type: string;
  args: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  /** Earlier runs throttled by the provider whose attempt was given back (migration 012). */
  throttles: number;
  /** Earlier runs held back by an outage of Redis or PostgreSQL whose attempt was given back (migration 015). */
  outages: number;
  expires_at: Date | null;
  from_state: string;
  /** Whether its tenant was enabled when it was claimed (a disabled tenant's action ends rejected). */
  tenant_enabled: boolean;
}

/**
 * Claims actions for a worker in one statement. A row is claimable when it is due and pending,
 * retrying or queued, or running on a worker whose lock is gone (the process died: its message
 * came back; this takeover is the fast path of recovery, see recovery.ts). Final and not-yet-due
 * rows, and rows running on a live worker, are not claimed.
 * Retrying and pending are claimable because the relay publishes before its transaction
 * commits `queued`: a fast subscriber sees the row as it was and waits on the relay's lock.
 *
 * The claim commits asynchronously (`synchronous_commit` off for its transaction only): losing
 * it to a PostgreSQL crash is harmless. The row goes back to what it was (queued or retrying),
 * the unacked message is redelivered and claimed again, and the handler reruns, which
 * at-least-once delivery allows. Nothing acts on a claim alone: the outcome that follows is
 * committed synchronously before the ack, and its WAL flush also makes this claim (and its
 * event row) durable, since WAL is flushed in order.
 */
const CLAIM = `
WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
old AS (
  SELECT a.id, a.state FROM actions a
  WHERE a.id = ANY($1::bigint[])
    AND ((a.state IN ('pending', 'retrying', 'queued') AND a.not_before <= now())
      OR (a.state = 'running' AND a.worker_id IS DISTINCT FROM $2 AND NOT ${workerAlive('a.worker_id')}))
  FOR UPDATE
), claimed AS (
  -- transition claim: pending|retrying|queued|running -> running
  UPDATE actions a SET state = 'running', attempts = a.attempts + 1, worker_id = $2, worker = $3,
    started_at = now(), updated_at = now()
  FROM old WHERE a.id = old.id
  RETURNING a.id::text, a.tenant_id, a.type, a.args, a.attempts, a.max_attempts, a.throttles, a.outages, a.expires_at, old.state AS from_state,
    COALESCE((SELECT t.enabled FROM tenants t WHERE t.id = a.tenant_id), false) AS tenant_enabled
), ev AS (
  INSERT INTO action_events (action_id, from_state, to_state, actor, reason)
  SELECT id::bigint, from_state, 'running', $3,
    CASE WHEN from_state = 'running' THEN 'taken over: the worker that ran it is gone' END FROM claimed
)
SELECT claimed.* FROM claimed, async`;

export async function claimActions(
  sql: Sql,
  ids: readonly string[],
  workerId: string,
  worker: string,
): Promise<ClaimedAction[]> {
  const { rows } = await sql.query<ClaimedAction>({ name: 'cmq_claim', text: CLAIM, values: [ids, workerId, worker] });
  return rows;
}

/** The states of actions by id (ids that match no action are absent). */
export async function actionStates(sql: Sql, ids: readonly string[]): Promise<Map<string, string>> {
  const { rows } = await sql.query<{ id: string; state: string }>(
    'SELECT id::text, state FROM actions WHERE id = ANY($1::bigint[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.state]));
}

/** The outcome of one run, to commit. */
export interface Outcome {
  id: string;
  /** The attempt that produced it: a late outcome of an older attempt is discarded. */
  attempt: number;
  state: RunOutcome;
  result?: unknown;
  error?: string;
  /** For `retrying`: when to run again. */
  notBefore?: Date;
  /**
   * For `retrying`: this run does not count as an attempt (the provider throttled it: a rate
   * limit, not a failure of the action). The commit gives back the attempt its claim took and
   * counts the run in `throttles` (in `outages` with `outage`).
   */
  refundAttempt?: boolean;
  /** With `refundAttempt`: the run was held back by an outage of a dependency of cmq, not throttled. */
  outage?: boolean;
}

/**
 * Commits outcomes in one statement, fenced: only rows still running on this worker at this
 * attempt change (a worker that was frozen and replaced cannot overwrite the newer outcome).
 * `queued` hands an action back (drain). An outcome for a row that is pending, queued or
 * retrying sends that row back to the relay (its claim was lost). A `retrying` outcome with
 * `refundAttempt` gives back the attempt its claim counted and counts a throttled run (or, with
 * `outage`, a run held back by an outage). Wakes the
 * relay. Returns the ids committed (`done`) and those sent back to the relay (`requeued`).
 *
 * The rows are found through the primary key (`a.id = ANY($1)`) and hash-joined with the input.
 * The fence compares state and worker with columns of the materialized input (`i.fence`, always
 * 'running'; `i.worker_id`, always $7) rather than with constants on purpose: a constant
 * `state = 'running'` lets the planner use the partial index `actions_inflight`, and a constant
 * worker shrinks the estimate of the rows found to one or two; with statistics lagging behind a
 * fast-growing table (no autoanalyze yet) the planner then joined every queued or running row
 * (and every dead index entry behind them) against every input row in a nested loop, a hundred
 * times slower. Results and errors come as one JSON array each (see jsonDocArray).
 */
const COMMIT = `
WITH input AS MATERIALIZED (
  SELECT t.id, t.attempt, t.state, t.result -> 0 AS result, t.error, t.not_before, t.refund, t.outage, 'running'::text AS fence, $7::bigint AS worker_id
  FROM ROWS FROM (unnest($1::bigint[]), unnest($2::int[]), unnest($3::text[]), jsonb_array_elements($4::jsonb),
                  json_array_elements_text($5::json), unnest($6::timestamptz[]), unnest($9::boolean[]), unnest($10::boolean[]))
    AS t(id, attempt, state, result, error, not_before, refund, outage)
), done AS (
  -- transition commit: running -> succeeded|failed|retrying|dead|expired|rejected|queued
  UPDATE actions a SET state = i.state, result = i.result, error = i.error, updated_at = now(),
    finished_at = CASE WHEN i.state IN ('retrying', 'queued') THEN NULL ELSE now() END,
    not_before = COALESCE(i.not_before, a.not_before),
    attempts = CASE WHEN i.state = 'queued' OR (i.state = 'retrying' AND i.refund) THEN a.attempts - 1 ELSE a.attempts END,
    throttles = CASE WHEN i.state = 'retrying' AND i.refund AND NOT i.outage THEN a.throttles + 1 ELSE a.throttles END,
    outages = CASE WHEN i.state = 'retrying' AND i.refund AND i.outage THEN a.outages + 1 ELSE a.outages END,
    worker_id = CASE WHEN i.state IN ('retrying', 'queued') THEN NULL ELSE a.worker_id END
  FROM input i
  WHERE a.id = ANY($1::bigint[]) AND a.id = i.id AND a.state = i.fence AND a.worker_id = i.worker_id AND a.attempts = i.attempt
  RETURNING a.id, i.state, i.error
), ev AS (
  INSERT INTO action_events (action_id, from_state, to_state, actor, reason)
  SELECT id, 'running', state, $8, error FROM done
), lost AS (
  -- An outcome whose row is neither running nor final: its claim was lost (a PostgreSQL crash
  -- took the asynchronously committed claim) and its message is about to be acked. Back to the
  -- relay, or it would wait forever. (Disjoint from done: these rows were not running.)
  -- Only outcomes not committed above are looked at: none in the common case.
  SELECT a.id, a.state FROM actions a
  WHERE a.id = ANY(ARRAY(SELECT i.id FROM input i WHERE i.id NOT IN (SELECT d.id FROM done d)))
    AND a.state IN ('pending', 'queued', 'retrying') FOR UPDATE
), requeued AS (
  -- transition commit: pending|queued|retrying -> pending
  UPDATE actions a SET state = 'pending', worker_id = NULL, updated_at = now() FROM lost WHERE a.id = lost.id RETURNING a.id, lost.state AS from_state
), requeue_ev AS (
  INSERT INTO action_events (action_id, from_state, to_state, actor, reason)
  SELECT id, from_state, 'pending', $8, 'sent back to the relay: its claim was lost (database restart)' FROM requeued
)
SELECT r.id::text, r.kind
FROM (SELECT id, 'done' AS kind FROM done UNION ALL SELECT id, 'requeued' FROM requeued) AS r,
  (SELECT pg_notify('cmq_relay', 'commit')) AS wake`;

/**
 * An outcome whose result cannot be written as JSON at all (a value JSON has no form for, such
 * as a BigInt, or text longer than a JavaScript string can hold): like PostgreSQL refusing it,
 * it would fail the same way at every retry.
 */
export class UnstorableOutcomeError extends CmqError {
  constructor(
    readonly id: string,
    cause: unknown,
  ) {
    super('CMQ_ERR_UNSTORABLE_OUTCOME', `the result of action ${id} cannot be written as JSON: ${errorText(cause)}`, {
      cause,
    });
  }
}

/** Largest result stored: PostgreSQL's jsonb holds less than 256 MB (and the batch must still fit one message). */
export const MAX_RESULT_BYTES = 128 * 1024 * 1024;

function resultJson(o: Outcome): string | null {
  if (o.result === undefined) return null;
  let text: string;
  try {
    // Results carry what handlers saw (a remote command's output): made storable, or one NUL in
    // them would fail this whole batch of outcomes, again at every retry.
    text = storableJson(o.result);
  } catch (err) {
    throw new UnstorableOutcomeError(o.id, err);
  }
  // JSON.stringify gives undefined for a value JSON has no form for at the top (a function): no result.
  if ((text as string | undefined) === undefined) return null;
  // Cheap bound first: a UTF-16 unit is at most 3 bytes of UTF-8.
  if (text.length * 3 > MAX_RESULT_BYTES) {
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_RESULT_BYTES)
      throw new UnstorableOutcomeError(
        o.id,
        new Error(`it is ${bytes} bytes, over the ${MAX_RESULT_BYTES} bytes a result may take`),
      );
  }
  return text;
}

/** Where a commit goes: one statement, or several in one transaction. */
export interface CommitTarget {
  sql: Sql;
  transaction: Transactor;
}

/** What a commit did with each outcome; an outcome in neither set was refused by the fence. */
export interface CommitResult {
  /** Outcomes committed: their actions moved from running. */
  done: Set<string>;
  /** Outcomes whose claim was lost (a database restart): their actions went back to the relay. */
  requeued: Set<string>;
}

interface StoredOutcome {
  o: Outcome;
  result: string | null;
  error: string | null;
}

async function commitChunk(
  sql: Sql,
  chunk: readonly StoredOutcome[],
  workerId: string,
  worker: string,
): Promise<CommitResult> {
  const { rows } = await sql.query<{ id: string; kind: 'done' | 'requeued' }>({
    name: 'cmq_commit',
    text: COMMIT,
    values: [
      chunk.map((s) => s.o.id),
      chunk.map((s) => s.o.attempt),
      chunk.map((s) => s.o.state),
      jsonDocArray(chunk.map((s) => s.result)),
      jsonTextArray(chunk.map((s) => s.error)),
      chunk.map((s) => s.o.notBefore ?? null),
      workerId,
      worker,
      chunk.map((s) => s.o.refundAttempt === true),
      chunk.map((s) => s.o.outage === true),
    ],
  });
  const result: CommitResult = { done: new Set(), requeued: new Set() };
  for (const r of rows) result[r.kind].add(r.id);
  return result;
}

/**
 * Commits outcomes (see COMMIT); returns which were committed and which sent back. Every result is written as JSON
 * before anything is sent (UnstorableOutcomeError names the first that cannot be). Outcomes with
 * more text than one statement may carry (`maxBytes`, MAX_ARGUMENT_BYTES: 16 outputs near a 64 MB
 * `ssh.output_cap`) are committed by several statements in one transaction; one result alone
 * (at most MAX_RESULT_BYTES) always fits.
 */
export async function commitOutcomes(
  target: CommitTarget,
  outcomes: readonly Outcome[],
  workerId: string,
  worker: string,
  maxBytes = MAX_ARGUMENT_BYTES,
): Promise<CommitResult> {
  const stored = outcomes.map((o) => ({ o, result: resultJson(o), error: o.error ?? null }));
  const ranges = sizeRanges(
    stored.map((s) => utf8Bound(s.result) + utf8Bound(s.error)),
    maxBytes,
  );
  if (ranges.length === 0) return { done: new Set(), requeued: new Set() };
  if (ranges.length === 1) return commitChunk(target.sql, stored, workerId, worker);
  return target.transaction(async (sql) => {
    const all: CommitResult = { done: new Set(), requeued: new Set() };
    for (const [from, to] of ranges) {
      const part = await commitChunk(sql, stored.slice(from, to), workerId, worker);
      for (const id of part.done) all.done.add(id);
      for (const id of part.requeued) all.requeued.add(id);
    }
    return all;
  });
}

/**
 * Ends `dead` with `reason` an action that was never claimed (pending, queued or retrying) whose
 * message a subscriber cannot read (over its max_body_bytes): without this its row would wait,
 * queued, for a delivery that can never run. Matched by id and by the routing key the relay gave
 * its message (`<family>.<type>.<tenant>`), so that another publisher's message whose messageId
 * merely looks like an action id ends nothing. Returns the action's tenant, or undefined when no
 * such action was waiting.
 */
export async function endActionUnread(
  sql: Sql,
  id: string,
  routingKey: string,
  reason: string,
  actor: string,
): Promise<{ tenant: string } | undefined> {
  const { rows } = await sql.query<{ tenant_id: string }>(
    `WITH old AS (
       SELECT id, state FROM actions
       WHERE id = $1 AND state IN ('pending', 'queued', 'retrying') AND family || '.' || type || '.' || tenant_id = $2
       FOR UPDATE
     ), upd AS (
       -- transition refuse: pending|queued|retrying -> dead
       UPDATE actions a SET state = 'dead', error = $3, worker_id = NULL, finished_at = now(), updated_at = now()
       FROM old WHERE a.id = old.id RETURNING a.id, a.tenant_id, old.state AS from_state
     ), ev AS (
       INSERT INTO action_events (action_id, from_state, to_state, actor, reason) SELECT id, from_state, 'dead', $4, $3 FROM upd
     )
     SELECT tenant_id FROM upd`,
    [id, storableText(routingKey), storableText(reason), actor],
  );
  const row = rows[0];
  return row === undefined ? undefined : { tenant: row.tenant_id };
}
