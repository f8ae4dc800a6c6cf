import { Pool, type PoolClient } from 'pg';
import { SchemaError, errorText } from '../errors';
import type { DbConfig } from '../config/shared-files';
import type { Logger } from '../logging/logging';
import type { Component, StatusBoard } from '../lifecycle/component';
import { backoffDelay, every, sleep } from '../lifecycle/timing';
import { checkSchema } from './migrations';
import type { Sql } from './sql';

type Db = DbConfig['db'];

/** What every connection of this process to PostgreSQL needs: where, who, the connect timeout, its name. */
export function connectionConfig(db: Db, applicationName: string) {
  return {
    host: db.host,
    port: db.port,
    database: db.database,
    user: db.user,
    password: db.password === '' ? undefined : db.password,
    connectionTimeoutMillis: db.connect_timeout,
    application_name: applicationName,
    // Custom plans for every execution, because a generic plan cached while `actions` was small
    // would scan it sequentially for ever; random_page_cost 1.1 because the rows a batch touches
    // are recent and in memory (docs/decisions/0008-pipeline-cpu-per-action.md).
    options: '-c plan_cache_mode=force_custom_plan -c random_page_cost=1.1',
  };
}

/** A pg Pool with the mandatory error listener (an idle client's backend dying must not crash the process). */
export function createPool(db: Db, logger: Logger, applicationName: string): Pool {
  const pool = new Pool({
    ...connectionConfig(db, applicationName),
    max: db.pool.max,
    statement_timeout: db.statement_timeout,
  });
  pool.on('error', (err) => logger.warn({ err }, 'idle database connection failed'));
  return pool;
}

/**
 * Whether `err` is PostgreSQL refusing the data itself (SQLSTATE class 22, data exception, or 23,
 * integrity constraint violation): the same statement with the same values fails the same way
 * however often it is retried, unlike a lost connection or a restart. (Not class 54, program
 * limit exceeded: it also means a database refusing every write near transaction id
 * wraparound, which a VACUUM cures.)
 */
export function isDataRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

/** `host:port/database`, for messages. */
export function databaseLabel(db: Db): string {
  return `${db.host}:${db.port}/${db.database}`;
}

/**
 * Runs `fn` in a transaction on one client: ROLLBACK on error, release in every case, and a
 * client whose backend died is discarded rather than returned to the pool.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool's error listener is off while a client is checked out: a backend dying between
  // statements would otherwise be an unhandled 'error' event that crashes the process.
  const onError = (err: Error): void => {
    broken ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/**
 * The process's PostgreSQL pool as a component: start waits until the database answers
 * (saying so while it does not) and refuses a schema older than this release needs; then a
 * probe every `healthIntervalMs` keeps the status board truthful while the database is away.
 */
export class Database implements Component {
  readonly name = 'postgres';
  readonly pool: Pool;
  private closed = false;
  private readonly healthAbort = new AbortController();
  private health: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly status: StatusBoard,
    applicationName: string,
    private readonly healthIntervalMs = 5_000,
  ) {
    this.pool = createPool(db, logger, applicationName);
  }

  async start(signal: AbortSignal): Promise<void> {
    for (let attempt = 1; !signal.aborted; attempt += 1) {
      try {
        const version = await checkSchema(this.pool, this.db.database);
        this.status.set(this.name, undefined);
        this.logger.info({ database: databaseLabel(this.db), schemaVersion: version }, 'database ready');
        this.health = every(
          this.healthIntervalMs,
          this.healthAbort.signal,
          () => this.probe(),
          () => undefined,
        );
        return;
      } catch (err) {
        if (err instanceof SchemaError) throw err;
        if ((err as { code?: string }).code === '3D000') {
          throw new SchemaError(`database "${this.db.database}" does not exist: run \`cmq migrate --create-database\``);
        }
        this.status.set(this.name, `waiting for database at ${databaseLabel(this.db)} (${errorText(err)})`);
      }
      await sleep(backoffDelay(attempt, 200, 10_000), signal);
    }
  }

  /** The pool, as the query interface the rest of the code uses. */
  get sql(): Sql {
    return this.pool;
  }

  /** Runs `fn` in a transaction on one client (see {@link withTransaction}). */
  transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.healthAbort.abort();
    await this.health;
    await this.pool.end();
  }

  destroy(): void {
    this.closed = true;
    this.healthAbort.abort();
    void this.pool.end().catch(() => undefined);
  }

  /** One `SELECT 1`: sets or clears this component's line on the status board. */
  private async probe(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
      this.status.set(this.name, undefined);
    } catch (err) {
      this.status.set(this.name, `waiting for database at ${databaseLabel(this.db)} (${errorText(err)})`);
    }
  }
}
