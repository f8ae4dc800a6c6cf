import { Client } from 'pg';
import type { DbConfig } from '../config/shared-files';
import { errorText } from '../errors';
import type { Component, StatusBoard } from '../lifecycle/component';
import { backoffDelay, sleep } from '../lifecycle/timing';
import type { Logger } from '../logging/logging';
import { connectionConfig, databaseLabel } from './postgres';
import type { Sql } from './sql';

export interface PgSessionOptions {
  /** Component name, also on the status board. */
  name: string;
  db: DbConfig['db'];
  applicationName: string;
  logger: Logger;
  status: StatusBoard;
  /** Runs after every (re)connection: LISTEN, take a session advisory lock... */
  setup: (session: Sql) => Promise<void>;
  /** A NOTIFY on a channel the setup listens to. */
  onNotification?: (channel: string, payload: string) => void;
  /** Called after each reconnection (not the first connection): e.g. to catch up on missed notifications. */
  onReconnect?: () => void;
}

/**
 * One dedicated PostgreSQL connection kept open for the life of the process, for what a pool
 * cannot do: LISTEN, and session-level advisory locks that must vanish with the process.
 * Reconnects with capped, jittered backoff and reruns `setup` each time.
 */
export class PgSession implements Component {
  readonly name: string;
  private client: Client | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: PgSessionOptions) {
    this.name = opts.name;
  }

  /** Resolves after the first successful connection and setup. */
  start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.abort.abort(), { once: true });
    return new Promise((resolve, reject) => {
      this.loop = this.run(resolve).catch(reject);
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.loop;
  }

  destroy(): void {
    this.abort.abort();
    void this.client?.end().catch(() => undefined);
  }

  private async run(onFirst: () => void): Promise<void> {
    let first = true;
    for (let attempt = 1; !this.abort.signal.aborted; attempt += 1) {
      try {
        const ended = await this.connect();
        attempt = 0;
        this.opts.status.set(this.name, undefined);
        if (first) onFirst();
        else this.opts.onReconnect?.();
        first = false;
        const reason = await ended.done;
        if (this.abort.signal.aborted) return;
        this.opts.status.set(this.name, `waiting for database at ${databaseLabel(this.opts.db)} (${reason})`);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.opts.status.set(this.name, `waiting for database at ${databaseLabel(this.opts.db)} (${errorText(err)})`);
      }
      await sleep(backoffDelay(Math.max(1, attempt), 200, 10_000), this.abort.signal);
    }
  }

  private async connect(): Promise<{ done: Promise<string> }> {
    const { db } = this.opts;
    const client = new Client({ ...connectionConfig(db, this.opts.applicationName), keepAlive: true });
    const done = new Promise<string>((resolve) => {
      client.on('error', (err: Error) => resolve(errorText(err)));
      client.on('end', () => resolve('connection ended'));
    });
    client.on('notification', (n) => this.opts.onNotification?.(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      await this.opts.setup(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return { done };
  }
}
