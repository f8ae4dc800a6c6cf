import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type RawRequest, insertActions, parseRequest } from '@cmq/actions';
import { withTransaction } from '@cmq/common';
import type { Redis } from 'ioredis';
import { Pool } from 'pg';
import { FINAL_STATES, countActions, listEvents, stateCounts } from './actions';
import { type ConfigFiles, serviceConfig } from './config-dir';
import { type Spawned, execFileP, runCmq, spawnBin, waitForLog } from './process';
import { waitFor } from './wait';

/** `rabbitmqctl -q ARGS` against the shared broker. */
export async function rabbitmqctl(...args: string[]): Promise<void> {
  await execFileP('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
}

export interface PipelineOptions {
  /** PostgreSQL port (a private cluster); the shared server when absent. */
  pgPort?: number;
  config?: ConfigFiles;
}

/**
 * A whole pipeline for one test: its own database, its own RabbitMQ vhost (so no other test's
 * subscriber sees its messages), a config dir, and the built publisher and subscribers.
 */
export class Pipeline {
  readonly processes: Spawned[] = [];
  private constructor(
    readonly database: string,
    readonly vhost: string,
    readonly dir: string,
    readonly logDir: string,
    readonly pool: Pool,
    private readonly pgPort: number,
  ) {}

  static async create(opts: PipelineOptions = {}): Promise<Pipeline> {
    const suffix = randomBytes(4).toString('hex');
    const database = `cmq_pipe_${suffix}`;
    const vhost = `cmq-pipe-${suffix}`;
    const pgPort = opts.pgPort ?? 5432;
    const base: ConfigFiles = {
      'worker.properties': { 'db.port': pgPort },
      'mq.cfg': { 'amqp.vhost': vhost },
    };
    for (const [file, values] of Object.entries(opts.config ?? {})) base[file] = { ...base[file], ...values };
    const { dir, logDir } = serviceConfig(base, database);
    await rabbitmqctl('add_vhost', vhost);
    await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    const migrated = await runCmq(['migrate', '--create-database', '--config-dir', dir]);
    if (migrated.code !== 0) throw new Error(`cmq migrate failed: ${migrated.stderr}`);
    const pool = new Pool({ host: '127.0.0.1', port: pgPort, user: 'postgres', database, max: 4 });
    pool.on('error', () => undefined);
    return new Pipeline(database, vhost, dir, logDir, pool, pgPort);
  }

  async addTenants(...ids: string[]): Promise<void> {
    for (const id of ids) await this.pool.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [id]);
  }

  /** Validates and inserts requests as intake does (batches of 5,000); returns ids in order. */
  async submit(requests: RawRequest[]): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < requests.length; i += 5_000) {
      const parsed = requests.slice(i, i + 5_000).map((r) => {
        const p = parseRequest(r);
        if (!p.ok) throw new Error(p.error);
        return p.request;
      });
      ids.push(...(await insertActions((fn) => withTransaction(this.pool, fn), parsed, 'test')));
    }
    return ids;
  }

  start(service: 'publisher' | 'subscriber' | 'pinger', args: string[] = [], env: NodeJS.ProcessEnv = {}): Spawned {
    const proc = spawnBin(service, ['--config-dir', this.dir, ...args], env);
    this.processes.push(proc);
    return proc;
  }

  /** Starts a publisher and the default subscriber and waits until both run. */
  async startPublisherAndSubscriber(): Promise<void> {
    this.start('publisher');
    this.start('subscriber');
    await this.running('publisher', 'main');
    await this.running('subscriber', 'default');
  }

  /**
   * Waits until the process logged `state running` in its log file (`name` as configured); with
   * `pid`, only that process's line counts (a restart's: pids wrap, so "newer" is not "greater").
   */
  async running(service: string, name: string, pid?: number): Promise<void> {
    await waitForLog(
      join(this.logDir, `${service}-${name}.log`),
      (l) => l.msg === 'state running' && (pid === undefined || Number(l.pid) === pid),
      30_000,
      `${service} ${name} running`,
    );
  }

  /** Per state, how many actions are in it. */
  async states(): Promise<Record<string, number>> {
    return stateCounts(this.pool);
  }

  /** Waits until every action (or those of `ids`) is final; on a timeout, says what the states are then. */
  async allFinal(timeoutMs: number, ids?: string[]): Promise<void> {
    try {
      await waitFor(
        async () => (await countActions(this.pool, { ids, notState: FINAL_STATES })) === 0,
        timeoutMs,
        'every action final',
      );
    } catch (err) {
      throw new Error(`${(err as Error).message} (now ${JSON.stringify(await this.states().catch(() => ({})))})`, {
        cause: err,
      });
    }
  }

  /**
   * Effectively-once evidence for `noop` actions submitted with `args.count`: those of `ids`
   * whose handler never ran to completion (its run counter, one hash per tenant in `redis`), and
   * every action whose `succeeded` was committed other than once. Both empty when all is well.
   */
  async onceEach(
    redis: Redis,
    tenants: readonly string[],
    ids: readonly string[],
  ): Promise<{ neverRan: string[]; notCommittedOnce: Array<{ action_id: string; n: number }> }> {
    const runs = new Map<string, number>();
    for (const t of tenants)
      for (const [id, n] of Object.entries(await redis.hgetall(`cmq:noop:runs:${t}`))) runs.set(id, Number(n));
    const committed = new Map<string, number>();
    for (const e of await listEvents(this.pool, { to: 'succeeded' }))
      committed.set(e.action_id, (committed.get(e.action_id) ?? 0) + 1);
    const notCommittedOnce = [...committed].filter(([, n]) => n !== 1).map(([action_id, n]) => ({ action_id, n }));
    return { neverRan: ids.filter((id) => (runs.get(id) ?? 0) < 1), notCommittedOnce };
  }

  async destroy(): Promise<void> {
    for (const p of this.processes) p.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => p.exited));
    await this.pool.end();
    const admin = new Pool({ host: '127.0.0.1', port: this.pgPort, user: 'postgres', database: 'postgres', max: 1 });
    await admin.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await rabbitmqctl('delete_vhost', this.vhost).catch(() => undefined);
  }
}
