import pino from 'pino';
import {
  type ActionRequest,
  type CommitTarget,
  MAX_RESULT_BYTES,
  type Outcome,
  commitOutcomes,
  insertActions,
  parseRequest,
  reapWorker,
} from '@cmq/actions';
import { Database, type Sql, StatusBoard, createPool, migrate, withTransaction } from '@cmq/common';
import { ClaimBatches } from '@cmq/subscriber';
import { captureLogs } from '../helpers/log-capture';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// The subscriber's batched outcome commits (ClaimBatches) against a real PostgreSQL: an outcome
// whose result cannot be written as JSON fails alone and ends its action dead with the reason,
// instead of failing its whole batch at every retry.

const logger = pino({ level: 'silent' });
let name: string;
let database: Database;
const stop = new AbortController();

beforeAll(async () => {
  name = await createTestDatabase('cmq_outcomes');
  const db = testDbConfig(name);
  const pool = createPool(db, logger, 'cmq-outcomes-test-migrate');
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
  await pool.end();
  database = new Database(db, logger, new StatusBoard(), 'cmq-outcomes-test');
  await database.start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await database.close();
  await dropTestDatabase(name);
});

function request(): ActionRequest {
  const p = parseRequest({ type: 'noop', tenant: 't1' });
  if (!p.ok) throw new Error(p.error);
  return p.request;
}

it('an outcome whose result cannot be written as JSON ends its action dead with the reason; the outcomes batched with it commit', async () => {
  const ids = await insertActions(
    (fn) => withTransaction(database.pool, fn),
    [request(), request(), request()],
    'test',
  );
  const batches = new ClaimBatches(database, logger, { workerId: () => '1', worker: 'test-worker' });
  const claims = await Promise.all(ids.map((id) => batches.claim(id)));
  const attempt = (i: number): number => {
    const c = claims[i];
    if (c?.kind !== 'claimed') throw new Error(`action ${ids[i]} not claimed: ${JSON.stringify(c)}`);
    return c.action.attempts;
  };
  const [first, bad, good] = ids as [string, string, string];
  // The first commit goes alone; the two that arrive while it runs share the next batch.
  const committed = await Promise.all([
    batches.commit({ id: first, attempt: attempt(0), state: 'succeeded', result: { ok: 1 } }),
    batches.commit({ id: bad, attempt: attempt(1), state: 'succeeded', result: { size: 10n } }),
    batches.commit({ id: good, attempt: attempt(2), state: 'succeeded', result: { ok: 2 } }),
  ]);
  const reason =
    'its outcome (succeeded) could not be stored, its result cannot be written as JSON: Do not know how to serialize a BigInt';
  expect(committed.map((o) => o?.state)).toEqual(['succeeded', 'dead', 'succeeded']);
  expect(committed[1]?.error).toBe(reason);
  const { rows } = await database.sql.query<{ id: string; state: string; result: unknown; error: string | null }>(
    'SELECT id::text, state, result, error FROM actions WHERE id = ANY($1::bigint[]) ORDER BY id',
    [ids],
  );
  expect(rows).toEqual([
    { id: first, state: 'succeeded', result: { ok: 1 }, error: null },
    { id: bad, state: 'dead', result: null, error: reason },
    { id: good, state: 'succeeded', result: { ok: 2 }, error: null },
  ]);
});

it('a result over MAX_RESULT_BYTES ends its action dead, naming its size, instead of failing the batch', async () => {
  const [id] = await insertActions((fn) => withTransaction(database.pool, fn), [request()], 'test');
  const batches = new ClaimBatches(database, logger, { workerId: () => '1', worker: 'test-worker' });
  const claim = await batches.claim(id as string);
  if (claim.kind !== 'claimed') throw new Error(`not claimed: ${JSON.stringify(claim)}`);
  const huge = '€'.repeat(Math.ceil(MAX_RESULT_BYTES / 3) + 1000); // 3 bytes each in UTF-8
  const bytes = Buffer.byteLength(JSON.stringify({ out: huge }));
  const committed = await batches.commit({
    id: id as string,
    attempt: claim.action.attempts,
    state: 'succeeded',
    result: { out: huge },
  });
  const reason = `its outcome (succeeded) could not be stored, its result cannot be written as JSON: it is ${bytes} bytes, over the ${MAX_RESULT_BYTES} bytes a result may take`;
  expect(committed).toMatchObject({ state: 'dead', error: reason });
  const { rows } = await database.sql.query('SELECT state, error FROM actions WHERE id = $1', [id]);
  expect(rows).toEqual([{ state: 'dead', error: reason }]);
});

type Claimed = { id: string; attempt: number };

/** Inserts and claims `n` noop actions. */
async function claimed(n: number): Promise<Claimed[]> {
  const ids = await insertActions(
    (fn) => withTransaction(database.pool, fn),
    Array.from({ length: n }, request),
    'test',
  );
  const batches = new ClaimBatches(database, logger, { workerId: () => '1', worker: 'test-worker' });
  return Promise.all(
    ids.map(async (id) => {
      const c = await batches.claim(id);
      if (c.kind !== 'claimed') throw new Error(`action ${id} not claimed: ${JSON.stringify(c)}`);
      return { id, attempt: c.action.attempts };
    }),
  );
}

it('results and errors are stored as they were, quotes, backslashes and all (a NUL as \\u0000, half a surrogate pair as U+FFFD); a null result stays apart from none', async () => {
  const [a, b, c] = (await claimed(3)) as [Claimed, Claimed, Claimed];
  const text = 'say "hi" C:\\temp\\x [1,2] {"k": "v"} \'q\' é \u{1f600} \\u0041';
  const committed = await commitOutcomes(
    database,
    [
      { ...a, state: 'succeeded', result: { out: text, lines: [text, null], n: 1.5 } },
      { ...b, state: 'succeeded', result: null },
      { ...c, state: 'failed', error: `${text} nul\u0000 half\ud800` },
    ],
    '1',
    'test-worker',
  );
  expect([...committed.done].sort()).toEqual([a.id, b.id, c.id].sort());
  const { rows } = await database.sql.query<{
    id: string;
    result: unknown;
    no_result: boolean;
    error: string | null;
    reason: string | null;
  }>(
    `SELECT a.id::text, a.result, a.result IS NULL AS no_result, a.error, e.reason
       FROM actions a JOIN action_events e ON e.action_id = a.id AND e.from_state = 'running'
      WHERE a.id = ANY($1::bigint[]) ORDER BY a.id`,
    [[a.id, b.id, c.id]],
  );
  const error = `${text} nul\\u0000 half\ufffd`;
  expect(rows).toEqual([
    { id: a.id, result: { out: text, lines: [text, null], n: 1.5 }, no_result: false, error: null, reason: null },
    { id: b.id, result: null, no_result: false, error: null, reason: null },
    { id: c.id, result: null, no_result: true, error, reason: error },
  ]);
});

/** `database`, counting the statements sent through it; a statement after the first `failAfter` fails. */
function counting(failAfter = Infinity): { target: CommitTarget; statements: () => number } {
  let sent = 0;
  const wrap = (sql: Sql): Sql => {
    const query = async (...args: unknown[]): Promise<unknown> => {
      if (sent === failAfter) throw new Error('connection lost (test)');
      sent += 1;
      return (sql.query as (...a: unknown[]) => Promise<unknown>)(...args);
    };
    return { query: query as Sql['query'] };
  };
  return {
    target: { sql: wrap(database.sql), transaction: (fn) => database.transaction((sql) => fn(wrap(sql))) },
    statements: () => sent,
  };
}

it('outcomes with more text than one statement may carry are committed by several statements, all or none', async () => {
  const outcome = (o: Claimed, i: number): Outcome => ({
    ...o,
    state: 'succeeded',
    result: { out: String(i).repeat(100) },
  });
  const first = await claimed(4);
  const states = async (ids: string[]): Promise<string[]> =>
    (
      await database.sql.query<{ state: string }>(
        'SELECT state FROM actions WHERE id = ANY($1::bigint[]) ORDER BY id',
        [ids],
      )
    ).rows.map((r) => r.state);
  const failing = counting(1);
  await expect(commitOutcomes(failing.target, first.map(outcome), '1', 'test-worker', 700)).rejects.toThrow(
    'connection lost (test)',
  );
  expect(await states(first.map((o) => o.id))).toEqual(['running', 'running', 'running', 'running']);

  const ok = counting();
  const done = await commitOutcomes(ok.target, first.map(outcome), '1', 'test-worker', 700);
  expect(ok.statements()).toBe(2); // two results of ~110 characters (at most 3 bytes each) fit in 700 bytes
  expect([...done.done].sort()).toEqual(first.map((o) => o.id).sort());
  expect(await states(first.map((o) => o.id))).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);

  // At the real bound: 5 results of 110 million characters, more than one JavaScript string can
  // hold (pg builds each argument as one). As one statement they failed with "RangeError: Invalid
  // string length", at every retry.
  const big = await claimed(5);
  const out = 'x'.repeat(110_000_000);
  const counted = counting();
  const all = await commitOutcomes(
    counted.target,
    big.map((o) => ({ ...o, state: 'succeeded', result: { out } })),
    '1',
    'test-worker',
  );
  expect(counted.statements()).toBe(5);
  expect(all.done.size).toBe(5);
  const { rows } = await database.sql.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM actions WHERE id = ANY($1::bigint[]) AND state = 'succeeded' AND length(result ->> 'out') = 110000000",
    [big.map((o) => o.id)],
  );
  expect(rows).toEqual([{ n: 5 }]);

  // Bytes, not characters: 3 results of 30 million '€' (90 MB each in UTF-8). Counted in
  // characters they fitted one statement, whose jsonb went over PostgreSQL's 256 MB.
  const euro = await claimed(3);
  const wide = '€'.repeat(30_000_000);
  const split = counting();
  expect(
    (
      await commitOutcomes(
        split.target,
        euro.map((o) => ({ ...o, state: 'succeeded', result: { out: wide } })),
        '1',
        'test-worker',
      )
    ).done.size,
  ).toBe(3);
  expect(split.statements()).toBe(3);
}, 180_000);

it("a late commit refused by the fence is logged with the action, the attempt and the reaper's reason", async () => {
  const { logger: captured, lines } = captureLogs('warn');
  const [id] = await insertActions((fn) => withTransaction(database.pool, fn), [request()], 'test');
  const batches = new ClaimBatches(database, captured, { workerId: () => '77', worker: 'frozen-worker' });
  const claim = await batches.claim(id as string);
  if (claim.kind !== 'claimed') throw new Error(`not claimed: ${JSON.stringify(claim)}`);
  const reason = 'reaped: worker frozen-worker stopped heartbeating';
  expect(await reapWorker(database.sql, '77', 'pinger:main@test:1', reason)).toEqual([id]);

  const committed = await batches.commit({ id: id as string, attempt: claim.action.attempts, state: 'succeeded' });
  expect(committed).toBeNull();
  await waitFor(() => lines.length > 0, 10_000, 'the refused commit logged');
  expect(lines).toEqual([
    expect.objectContaining({
      level: 40,
      action: id,
      attempt: 1,
      outcome: 'succeeded',
      state: 'pending',
      running_on: null,
      taken_by: 'pinger:main@test:1',
      reason,
      msg: `late commit refused by the fence: action ${id} attempt 1 was taken away from this worker (${reason}); its succeeded outcome is discarded`,
    }),
  ]);
  const { rows } = await database.sql.query('SELECT state FROM actions WHERE id = $1', [id]);
  expect(rows).toEqual([{ state: 'pending' }]);
});

it('an outcome whose claim was lost goes back to the relay, logged as such; a commit retried after it landed is no warning', async () => {
  const { logger: captured, lines } = captureLogs('debug');
  const [lost, retried] = (await insertActions(
    (fn) => withTransaction(database.pool, fn),
    [request(), request()],
    'test',
  )) as [string, string];
  const batches = new ClaimBatches(database, captured, { workerId: () => '1', worker: 'restarted-db-worker' });
  const claims = await Promise.all([batches.claim(lost), batches.claim(retried)]);
  const attempts = claims.map((c) => {
    if (c.kind !== 'claimed') throw new Error(`not claimed: ${JSON.stringify(c)}`);
    return c.action.attempts;
  });
  // What a PostgreSQL restart leaves of a claim committed asynchronously: the row pending again.
  await database.sql.query("UPDATE actions SET state = 'pending', worker_id = NULL WHERE id = $1", [lost]);
  const retriedOutcome: Outcome = { id: retried, attempt: attempts[1] as number, state: 'succeeded' };
  expect(await batches.commit(retriedOutcome)).toEqual(retriedOutcome);

  expect(await batches.commit({ id: lost, attempt: attempts[0] as number, state: 'succeeded' })).toBeNull();
  // The same commit again, as after a lost reply: its row is final already.
  expect(await batches.commit(retriedOutcome)).toBeNull();
  await waitFor(() => lines.some((l) => l.action === retried && l.level === 20), 10_000, 'the retried commit logged');

  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  expect(lines.filter((l) => l.action === lost)).toEqual([
    expect.objectContaining({
      level: 30,
      msg: `claim lost, sent back to the relay: action ${lost} attempt 1 will run again; its succeeded outcome is discarded`,
    }),
  ]);
  const { rows } = await database.sql.query<{ id: string; state: string }>(
    'SELECT id::text, state FROM actions WHERE id = ANY($1::bigint[]) ORDER BY id',
    [[lost, retried]],
  );
  expect(rows).toEqual([
    { id: lost, state: 'pending' },
    { id: retried, state: 'succeeded' },
  ]);
});
