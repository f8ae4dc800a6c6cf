import pino from 'pino';
import type { Pool } from 'pg';
import { getLogOffset, saveLogOffset } from '@cmq/actions';
import { createPool, migrate } from '@cmq/common';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

// Collection positions of guest log files, in a real PostgreSQL. An inode is an unsigned 64-bit
// number (migration 013): some filesystems use numbers above 2^63 - 1.

let name: string;
let pool: Pool;

beforeAll(async () => {
  name = await createTestDatabase('cmq_log_offsets');
  pool = createPool(testDbConfig(name, { max: 2 }), pino({ level: 'silent' }), 'cmq-log-offsets-test');
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
  await pool.query(
    "INSERT INTO guests (tenant_id, id, address, \"user\", private_key) VALUES ('t1', 'g1', '127.0.0.1', 'u', 'v1:k1:x')",
  );
});

afterAll(async () => {
  await pool.end();
  await dropTestDatabase(name);
});

it('stores and returns any 64-bit inode exactly, and the position with it', async () => {
  expect(await getLogOffset(pool, 't1', 'g1', '/var/log/app.log')).toBeUndefined();
  for (const inode of ['18446744073709551615', '9223372036854775808', '1', '9007199254740993']) {
    await saveLogOffset(pool, 't1', 'g1', '/var/log/app.log', { inode, offset: 4096, localSize: 5000 });
    expect(await getLogOffset(pool, 't1', 'g1', '/var/log/app.log')).toEqual({ inode, offset: 4096, localSize: 5000 });
  }
});
