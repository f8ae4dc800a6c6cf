import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Pool, type PoolClient } from 'pg';
import { DependencyUnavailableError, SchemaError, errorText } from '../errors';
import type { DbConfig } from '../config/shared-files';
import type { Logger } from '../logging/logging';
import type { Component, StatusBoard } from '../lifecycle/component';
import { backoffDelay, sleep } from '../lifecycle/timing';
import { checkSchema } from './migrations';
import type { PreparedQuery, Sql } from './sql';

type Db = DbConfig['db'];

/**
 * pg's `ssl` for `db.ssl.*`, as libpq's sslmode means it: require encrypts without verifying the
 * server; verify-ca checks its certificate against the CA; verify-full also its name.
 */
export function sslOptions(ssl: Db['ssl']): false | ConnectionOptions {
  if (ssl === undefined || ssl.mode === 'disable') return false;
  const read = (file: string): Buffer | undefined => (file === '' ? undefined : readFileSync(file));
  const files = { ca: read(ssl.ca), cert: read(ssl.cert), key: read(ssl.key) };
  if (ssl.mode === 'require') return { ...files, rejectUnauthorized: false };
  if (ssl.mode === 'verify-ca') return { ...files, checkServerIdentity: () => undefined };
  return files;
}

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
    ssl: sslOptions(db.ssl),
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

/** SQLSTATEs of a server that cannot serve now: class 08 (connection exception), shutting down or starting up, too many connections. */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;
/**
 * pg's own errors for a lost or impossible connection, which carry no code (pg-pool and
 * pg/lib/client.js): the adapter is the one place that may know them by their text.
 */
const PG_CONNECTION_LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|timeout expired$|Client has encountered a connection error)/;

/**
 * Whether `err` says PostgreSQL cannot be reached or is not serving (a refused or lost socket,
 * a shutdown, a restart), as opposed to refusing this statement: retrying later helps, and it
 * is nobody's action's fault.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.length > 0 && err.errors.every(isDatabaseUnavailable);
  if (typeof err !== 'object' || err === null) return false;
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  // A Node socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT...) always names its syscall.
  if (typeof syscall === 'string') return true;
  if (typeof code === 'string') return UNAVAILABLE_SQLSTATE.test(code);
  return err instanceof Error && PG_CONNECTION_LOST.test(err.message);
}

/** `err` as a DependencyUnavailableError when PostgreSQL is unavailable, else `err` itself. */
export function databaseError(err: unknown, label: string): unknown {
  return isDatabaseUnavailable(err)
    ? new DependencyUnavailableError('postgres', `PostgreSQL at ${label} is unavailable: ${errorText(err)}`, err)
    : err;
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
 * probe every `healthIntervalMs` (every second while it is away) keeps the status board and
 * {@link onAvailability} truthful. Through {@link sql} and {@link transaction}, a database that
 * cannot be reached fails with a DependencyUnavailableError, and is known to be away at once.
 */
export class Database implements Component {
  readonly name = 'postgres';
  readonly pool: Pool;
  private closed = false;
  private readonly healthAbort = new AbortController();
  private health: Promise<void> | undefined;
  private up = true;
  private readonly listeners: Array<(up: boolean) => void> = [];
  private readonly guarded: Sql;
  /** Ends the health probe's current wait. */
  private nap: AbortController | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly status: StatusBoard,
    applicationName: string,
    private readonly healthIntervalMs = 5_000,
  ) {
    this.pool = createPool(db, logger, applicationName);
    this.guarded = this.guard(this.pool);
  }

  /** Whether the database answered the last statement or probe (true before the first). */
  get available(): boolean {
    return this.up;
  }

  /** Calls `listener` each time the database goes away (false) or comes back (true). */
  onAvailability(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  async start(signal: AbortSignal): Promise<void> {
    for (let attempt = 1; !signal.aborted; attempt += 1) {
      try {
        const version = await checkSchema(this.pool, this.db.database);
        this.status.set(this.name, undefined);
        this.logger.info({ database: databaseLabel(this.db), schemaVersion: version }, 'database ready');
        this.health = this.watch();
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

  /** The pool, as the query interface the rest of the code uses (unavailability: see the class). */
  get sql(): Sql {
    return this.guarded;
  }

  /** Runs `fn` in a transaction on one client (see {@link withTransaction}; unavailability: see the class). */
  async transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    // Only the database's own failures are classified: connecting, BEGIN and COMMIT here, fn's
    // statements by the guarded client. What fn throws itself (it may publish to the broker,
    // say) passes unchanged, however much it looks like a lost socket.
    let thrownByFn: { err: unknown } | undefined;
    try {
      return await withTransaction(this.pool, async (client) => {
        try {
          return await fn(this.guard(client));
        } catch (err) {
          thrownByFn = { err };
          throw err;
        }
      });
    } catch (err) {
      if (thrownByFn !== undefined && thrownByFn.err === err) throw err;
      throw this.failed(err);
    }
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

  /** `target`'s query, with the unavailability of the database made known (see the class). */
  private guard(target: Pool | PoolClient): Sql {
    const query = (q: string | PreparedQuery, values?: unknown[]) =>
      (values === undefined ? target.query(q) : target.query(q as string, values)).catch((err: unknown) => {
        throw this.failed(err);
      });
    return { query: query as Sql['query'] };
  }

  /** Probes until closed: every `healthIntervalMs`, or every second while the database is away. */
  private async watch(): Promise<void> {
    const signal = this.healthAbort.signal;
    while (!signal.aborted) {
      // A statement that finds the database away ends the current (longer) wait.
      this.nap = new AbortController();
      const wait = this.up ? this.healthIntervalMs : Math.min(1_000, this.healthIntervalMs);
      await sleep(wait, AbortSignal.any([signal, this.nap.signal]));
      if (signal.aborted) return;
      await this.probe();
    }
  }

  /** One `SELECT 1`: sets or clears this component's line on the status board. */
  private async probe(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
      this.setAvailable(true);
    } catch (err) {
      this.setAvailable(false, err);
    }
  }

  /** `err` as {@link databaseError} makes it; an unavailable database is marked away at once. */
  private failed(err: unknown): unknown {
    const made = databaseError(err, databaseLabel(this.db));
    // Only the first failure says so: the probe keeps the status line current while it is away.
    if (made !== err && !this.closed && this.up) {
      this.setAvailable(false, err);
      this.nap?.abort();
    }
    return made;
  }

  private setAvailable(up: boolean, err?: unknown): void {
    this.status.set(
      this.name,
      up ? undefined : `waiting for database at ${databaseLabel(this.db)} (${errorText(err)})`,
    );
    if (up === this.up) return;
    this.up = up;
    this.logger.warn({ database: databaseLabel(this.db) }, up ? 'database is back' : 'database unavailable');
    for (const listener of this.listeners) listener(up);
  }
}
