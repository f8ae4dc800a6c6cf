import { randomBytes } from 'node:crypto';
import type { DbConfig } from '@cmq/common';
import amqp, { type ChannelModel } from 'amqplib';
import { Client } from 'pg';
import { execFileP } from './process';

/** A connection to the `postgres` database of the local server (trust auth). */
async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A plain amqplib connection of a test's own to `vhost` of the local broker (or of the one at
 * `broker`), to look at queues or publish straight onto them. A connection the broker closes
 * fails what then uses it, not the Jest worker (an amqplib connection without an 'error'
 * listener throws).
 */
export async function brokerConnection(
  vhost: string,
  broker = 'amqp://guest:guest@127.0.0.1:5672',
): Promise<ChannelModel> {
  const conn = await amqp.connect(`${broker}/${encodeURIComponent(vhost)}`);
  conn.on('error', () => undefined);
  return conn;
}

/** worker.properties' `db` settings for `database` on a local server (trust auth), as tests use them. */
export function testDbConfig(
  database: string,
  opts: { port?: number; max?: number; connectTimeoutMs?: number } = {},
): DbConfig['db'] {
  return {
    host: '127.0.0.1',
    port: opts.port ?? 5432,
    database,
    user: 'postgres',
    password: '',
    pool: { max: opts.max ?? 4 },
    statement_timeout: 30_000,
    connect_timeout: opts.connectTimeoutMs ?? 2_000,
  };
}

/** Creates an empty database with a unique name. */
export async function createTestDatabase(prefix = 'cmq_test'): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return name;
}

export async function dropTestDatabase(name: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/**
 * Broker connections whose client-provided name is exactly `name`, as rabbitmqctl pids. Exactly:
 * the broker lists every vhost's connections, and a prefix (or `...:123` matching `...:1234`)
 * would also take those of a suite running beside this one.
 */
export async function brokerConnections(name: string): Promise<string[]> {
  const { stdout } = await execFileP('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], {
    timeout: 60_000,
  });
  const property = `{"connection_name",${JSON.stringify(name)}}`;
  return stdout
    .split('\n')
    .filter((l) => l.includes(property))
    .map((l) => l.split('\t')[0] as string);
}

/** Closes (from the broker side) every connection named exactly `name`; returns how many. */
export async function closeBrokerConnections(name: string): Promise<number> {
  const pids = await brokerConnections(name);
  for (const pid of pids)
    await execFileP('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by test'], { timeout: 60_000 });
  return pids.length;
}
