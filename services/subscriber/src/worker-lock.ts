import { hostname } from 'node:os';
import { WORKER_LOCK, registerWorker } from '@cmq/actions';
import { type DbConfig, type Logger, PgSession, type Sql, type StatusBoard } from '@cmq/common';

export interface WorkerLockOptions {
  db: DbConfig['db'];
  /** The subscriber's name (subscriber.properties `name`). */
  name: string;
  /** `subscriber:<name>@<host>:<pid>`, for the lock session's application_name. */
  worker: string;
  logger: Logger;
  status: StatusBoard;
}

/**
 * The subscriber's row in `workers` and the advisory lock it holds on it for as long as it
 * lives, on a session of its own: the lock gone means the worker is dead, and its running
 * actions can be taken over (see Recovery in @cmq/actions).
 */
export class WorkerLock {
  private workerId = '';
  private session: PgSession | undefined;

  constructor(private readonly opts: WorkerLockOptions) {}

  /** The worker's id; '' before {@link start}. */
  get id(): string {
    return this.workerId;
  }

  /** Registers the worker, then takes its lock (waiting for PostgreSQL as long as it takes, or until `signal`). */
  async start(signal: AbortSignal, sql: Sql): Promise<void> {
    const { opts } = this;
    this.workerId = await registerWorker(sql, {
      service: 'subscriber',
      name: opts.name,
      host: hostname(),
      pid: process.pid,
    });
    this.session = new PgSession({
      name: 'worker-lock',
      db: opts.db,
      applicationName: `${opts.worker} lock`,
      logger: opts.logger,
      status: opts.status,
      setup: async (session) => {
        await session.query('SELECT pg_advisory_lock($1, $2)', [WORKER_LOCK, Number(this.workerId)]);
      },
    });
    await this.session.start(signal);
  }

  async close(): Promise<void> {
    await this.session?.close();
  }

  destroy(): void {
    this.session?.destroy();
  }
}
