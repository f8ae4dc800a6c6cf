import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import pino from 'pino';
import { type ActionRequest, IntakeError, insertActions, parseRequest, rotateSecrets } from '@cmq/actions';
import { Keyring, createPool, migrate, withTransaction } from '@cmq/common';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

let database: string;
let pool: Pool;
const k1 = randomBytes(32).toString('base64');
const ring = Keyring.fromText(`k1=${k1}\n`, 'k1');
const secret = `tok-${randomBytes(8).toString('hex')}`;

function request(type: string, args: Record<string, unknown>): ActionRequest {
  const p = parseRequest({ type, tenant: 't1', args });
  if (!p.ok) throw new Error(p.error);
  return p.request;
}

const exec = (env?: Record<string, string>): ActionRequest =>
  request('guest.exec', { guest: 'web1', command: 'echo "$TOKEN"', ...(env === undefined ? {} : { env }) });
const insert = (requests: ActionRequest[], keyring?: () => Keyring | undefined): Promise<string[]> =>
  insertActions((fn) => withTransaction(pool, fn), requests, 'test', { keyring });
const count = async (): Promise<number> =>
  (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM actions')).rows[0]?.n ?? -1;

beforeAll(async () => {
  database = await createTestDatabase('cmq_intake_secrets');
  pool = createPool(testDbConfig(database), pino({ level: 'silent' }), 'cmq-intake-secrets-test');
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
});

afterAll(async () => {
  await pool.end();
  await dropTestDatabase(database);
});

describe('intake of secret arguments', () => {
  it('without a keyring, a batch with a secret is refused naming km-client.cfg km.keys_file; nothing is inserted', async () => {
    const before = await count();
    const refusal = insert([request('noop', {}), exec({ TOKEN: secret })], () => undefined);
    await expect(refusal).rejects.toThrow(IntakeError);
    await expect(refusal).rejects.toMatchObject({
      code: 'CMQ_ERR_SECRET_KEYRING',
      message:
        'request 2: args.env.TOKEN is a secret argument, stored only encrypted with the keyring of km-client.cfg, and km.keys_file is not set there (set km.keys_file and km.active_key_id in km-client.cfg)',
    });
    await expect(insert([exec({ TOKEN: secret })])).rejects.toMatchObject({ code: 'CMQ_ERR_SECRET_KEYRING' });
    const unreadable = insert([exec({ TOKEN: secret })], () => {
      throw new IntakeError('cannot read km.keys_file /nowhere: ENOENT');
    });
    await expect(unreadable).rejects.toThrow(
      'args.env.TOKEN is a secret argument, stored only encrypted with the keyring of km-client.cfg, and that keyring cannot be read: cannot read km.keys_file /nowhere: ENOENT',
    );
    expect(await count()).toBe(before);
  });

  it('a request without secrets needs no keyring', async () => {
    const [id] = await insert([exec(), exec({})], () => {
      throw new Error('keyring read');
    });
    const { rows } = await pool.query('SELECT secret_args FROM actions WHERE id = $1', [id]);
    expect(rows).toEqual([{ secret_args: null }]);
  });

  it('stores the secret only encrypted: args hold "****", secret_args a v1 ciphertext of it', async () => {
    const [id] = await insert([exec({ TOKEN: secret, OTHER: 'plain-but-secret' })], () => ring);
    const { rows } = await pool.query<{ args: unknown; secret_args: string; text: string }>(
      'SELECT args, secret_args, actions::text AS text FROM actions WHERE id = $1',
      [id],
    );
    const [row] = rows;
    expect(row?.args).toEqual({ guest: 'web1', command: 'echo "$TOKEN"', env: { TOKEN: '****', OTHER: '****' } });
    expect(row?.secret_args).toMatch(/^v1:k1:/);
    expect(row?.text).not.toContain(secret);
    expect(ring.decrypt(row?.secret_args ?? '').toString()).toContain(secret);
  });

  it('keys rotate re-encrypts the secret arguments of actions too', async () => {
    const ring2 = Keyring.fromText(`k1=${k1}\nk2=${randomBytes(32).toString('base64')}\n`, 'k2');
    const counts = await withTransaction(pool, (sql) =>
      rotateSecrets(sql, 'k2', (ct) => ring2.encrypt(ring2.decrypt(ct))),
    );
    expect(counts.find((c) => c.table === 'actions')).toEqual({ table: 'actions', rotated: 1, total: 1 });
    const { rows } = await pool.query<{ s: string }>(
      'SELECT secret_args AS s FROM actions WHERE secret_args IS NOT NULL',
    );
    expect(rows.map((r) => r.s.slice(0, 6))).toEqual(['v1:k2:']);
  });
});
