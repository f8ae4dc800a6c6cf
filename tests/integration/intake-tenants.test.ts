import type { Pool, PoolClient } from 'pg';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { IntakeError, type ActionRequest, insertActions, maskSecretArgs, parseRequest } from '@cmq/actions';
import { Keyring, type Sql, createPool, migrate } from '@cmq/common';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

// Migration 011: no foreign key from actions to tenants (it cost intake a planned lookup per
// row); insertActions checks and locks the batch's tenants instead, and a trigger refuses to
// delete or rename a tenant that has actions.

let database: string;
let pool: Pool;
// guest.exec's env values are secret: stored encrypted beside the arguments.
const ring = Keyring.fromText(`k1=${randomBytes(32).toString('base64')}\n`, 'k1');
const keyring = (): Keyring => ring;

function request(tenant: string): ActionRequest {
  const p = parseRequest({ type: 'noop', tenant });
  if (!p.ok) throw new Error(p.error);
  return p.request;
}

const count = async (tenant: string): Promise<number> =>
  (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM actions WHERE tenant_id = $1', [tenant])).rows[0]
    ?.n ?? -1;

beforeAll(async () => {
  database = await createTestDatabase('cmq_intake_tenants');
  pool = createPool(testDbConfig(database), pino({ level: 'silent' }), 'cmq-intake-tenants-test');
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1'), ('t2', 't2'), ('empty', 'empty')");
});

afterAll(async () => {
  await pool.end();
  await dropTestDatabase(database);
});

const transactor = <T>(fn: (sql: Sql) => Promise<T>): Promise<T> =>
  withClient(async (c) => {
    await c.query('BEGIN');
    try {
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    }
  });

async function withClient<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    return await fn(c);
  } finally {
    c.release();
  }
}

describe('intake without a foreign key to tenants', () => {
  it('a batch naming an unknown tenant is refused whole, naming the request; nothing is inserted', async () => {
    await expect(insertActions(transactor, [request('t1'), request('ghost')], 'test')).rejects.toThrow(
      new IntakeError('request 2: tenant: unknown tenant "ghost" (add it with `cmq tenants add`)'),
    );
    expect(await count('t1')).toBe(0);
    expect(await count('ghost')).toBe(0);
  });

  it('a tenant that has actions cannot be deleted or renamed; one without can', async () => {
    await insertActions(transactor, [request('t1')], 'test');
    await expect(pool.query("DELETE FROM tenants WHERE id = 't1'")).rejects.toMatchObject({
      code: '23503',
      message: 'tenant "t1" has actions: it cannot be deleted or renamed (disable it: cmq tenants disable t1)',
    });
    await expect(pool.query("UPDATE tenants SET id = 't1b' WHERE id = 't1'")).rejects.toMatchObject({ code: '23503' });
    await expect(pool.query('TRUNCATE tenants CASCADE')).rejects.toMatchObject({
      code: '23503',
      message: 'tenants cannot be truncated while actions exist',
    });
    await pool.query("UPDATE tenants SET id = id, name = 'renamed', enabled = false WHERE id = 't1'");
    expect((await pool.query("DELETE FROM tenants WHERE id = 'empty'")).rowCount).toBe(1);
  });

  it('a tenant deleted while a batch for it is being inserted waits for the batch, then is refused: no action is left without its tenant', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let checked!: () => void;
    const inside = new Promise<void>((r) => (checked = r));
    // The batch's transaction stays open after its insert until the delete has been sent.
    const batch = insertActions(
      <T>(fn: (sql: Sql) => Promise<T>) =>
        transactor(async (sql) => {
          const r = await fn(sql);
          checked();
          await held;
          return r;
        }),
      [request('t2'), request('t2')],
      'test',
    );
    await inside;
    const deleting = pool.query("DELETE FROM tenants WHERE id = 't2' /* cmq-test-delete */");
    let settled = false;
    deleting.then(
      () => (settled = true),
      () => (settled = true),
    );
    // The delete must be seen waiting for the batch's lock on the tenant (not merely not back yet).
    const waiting = async (): Promise<boolean> =>
      (
        await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%cmq-test-delete%' AND pid <> pg_backend_pid()",
        )
      ).rows[0]?.n === 1;
    let waited = false;
    for (let i = 0; i < 100 && !waited && !settled; i++) {
      waited = await waiting();
      if (!waited) await new Promise((r) => setTimeout(r, 20));
    }
    release();
    expect(waited).toBe(true);
    await expect(batch).resolves.toHaveLength(2);
    await expect(deleting).rejects.toMatchObject({ code: '23503' });
    expect(await count('t2')).toBe(2);
    expect((await pool.query("SELECT count(*)::int AS n FROM tenants WHERE id = 't2'")).rows[0]).toEqual({ n: 1 });
  });
});

it('the arguments of each request are stored with its own action, quotes and backslashes as they were', async () => {
  await pool.query("INSERT INTO tenants (id, name) VALUES ('quotes', 'quotes')");
  const args = [
    { guest: 'g1', command: 'echo "hi" C:\\temp \\u0041 {"k": [1]}' },
    { guest: 'g2', command: 'true' },
    { guest: 'g3', command: '"', env: { A: '\\', B: '"\\"' } },
  ];
  const requests = args.map((a) => {
    const p = parseRequest({ type: 'guest.exec', tenant: 'quotes', args: a });
    if (!p.ok) throw new Error(p.error);
    return p.request;
  });
  const ids = await insertActions(transactor, requests, 'test', { keyring });
  const { rows } = await pool.query<{ id: string; args: unknown; secret_args: string | null }>(
    'SELECT id::text, args, secret_args FROM actions WHERE id = ANY($1::bigint[])',
    [ids],
  );
  expect(ids.map((id) => rows.find((r) => r.id === id)?.args)).toEqual(
    args.map((a) => maskSecretArgs('guest.exec', a)),
  );
  const sealed = rows.find((r) => r.id === ids[2])?.secret_args ?? '';
  expect(JSON.parse(ring.decrypt(sealed).toString())).toEqual([
    [['env', 'A'], '\\'],
    [['env', 'B'], '"\\"'],
  ]);
});

it('a batch with more argument text than one statement carries goes as several statements: every id keeps its own arguments, repeated keys resolve', async () => {
  await pool.query("INSERT INTO tenants (id, name) VALUES ('bulk', 'bulk')");
  const big = (i: number): { guest: string; command: string; env: { A: string } } => ({
    guest: `g${i}`,
    command: `${i}:${'c'.repeat(60_000)}`,
    env: { A: 'e'.repeat(60_000) },
  });
  // 400 requests of ~120 KB (counted as up to 3 bytes a character: ~170 a statement), the last
  // 10 repeating the idempotency keys of the first 10.
  const raw = Array.from({ length: 400 }, (_, i) => ({
    type: 'guest.exec',
    tenant: 'bulk',
    args: big(i),
    idempotency_key: `k${i < 390 ? i : i - 390}`,
  }));
  const requests = raw.map((r) => {
    const p = parseRequest(r);
    if (!p.ok) throw new Error(p.error);
    return p.request;
  });
  const ids = await insertActions(transactor, requests, 'test', { keyring });
  expect(ids.slice(390)).toEqual(ids.slice(0, 10));
  expect(new Set(ids).size).toBe(390);
  const { rows } = await pool.query<{ id: string; n: string }>(
    "SELECT id::text, split_part(args ->> 'command', ':', 1) AS n FROM actions WHERE tenant_id = 'bulk'",
  );
  const byId = new Map(rows.map((r) => [r.id, Number(r.n)]));
  expect(byId.size).toBe(390);
  expect(ids.slice(0, 390).map((id) => byId.get(id))).toEqual(Array.from({ length: 390 }, (_, i) => i));
});
