import pino from 'pino';
import { type ActionRequest, MAX_RESULT_BYTES, insertActions, parseRequest } from '@cmq/actions';
import { Database, StatusBoard, createPool, migrate, withTransaction } from '@cmq/common';
import { ClaimBatches } from '@cmq/subscriber';
import { createTestDatabase, dropTestDatabase } from '../helpers/services';

// The subscriber's batched outcome commits (ClaimBatches) against a real PostgreSQL: an outcome
// whose result cannot be written as JSON fails alone and ends its action dead with the reason,
// instead of failing its whole batch at every retry.

const logger = pino({ level: 'silent' });
let name: string;
let database: Database;
const stop = new AbortController();

beforeAll(async () => {
  name = await createTestDatabase('cmq_outcomes');
  const db = { host: '127.0.0.1', port: 5432, database: name, user: 'postgres', password: '', pool: { max: 4 }, statement_timeout: 30_000, connect_timeout: 2_000 };
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
  const ids = await insertActions((fn) => withTransaction(database.pool, fn), [request(), request(), request()], 'test');
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
  const reason = 'its outcome (succeeded) could not be stored, its result cannot be written as JSON: Do not know how to serialize a BigInt';
  expect(committed.map((o) => o?.state)).toEqual(['succeeded', 'dead', 'succeeded']);
  expect(committed[1]?.error).toBe(reason);
  const { rows } = await database.sql.query<{ id: string; state: string; result: unknown; error: string | null }>('SELECT id::text, state, result, error FROM actions WHERE id = ANY($1::bigint[]) ORDER BY id', [ids]);
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
  const committed = await batches.commit({ id: id as string, attempt: claim.action.attempts, state: 'succeeded', result: { out: huge } });
  const reason = `its outcome (succeeded) could not be stored, its result cannot be written as JSON: it is ${bytes} bytes, over the ${MAX_RESULT_BYTES} bytes a result may take`;
  expect(committed).toMatchObject({ state: 'dead', error: reason });
  const { rows } = await database.sql.query('SELECT state, error FROM actions WHERE id = $1', [id]);
  expect(rows).toEqual([{ state: 'dead', error: reason }]);
});
