import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP } from './process';

/**
 * A RabbitMQ node of a test's own (its own node name, port and files under /tmp) beside the
 * suite's shared one: for a test that sets off a resource alarm (an alarm blocks every
 * publishing connection of its node) or that kills or restarts the broker, which the other test
 * files, running at the same time, must not see. Each test file uses its own name and port.
 */
export class PrivateBroker {
  readonly url: string;

  private constructor(
    readonly node: string,
    private readonly port: number,
    private readonly dir: string,
  ) {
    this.url = `amqp://guest:guest@127.0.0.1:${port}`;
  }

  /**
   * Starts node `name@localhost` on 127.0.0.1:`port` (distribution port `port` + 20000); ~10 s.
   * `conf` adds lines to its rabbitmq.conf (a TLS listener...), `plugins` enables plugins.
   */
  static async start(
    name: string,
    port: number,
    extra: { conf?: string[]; plugins?: string[] } = {},
  ): Promise<PrivateBroker> {
    const node = `${name}@localhost`;
    await execFileP('rabbitmqctl', ['-q', '-n', node, 'stop'], { timeout: 60_000 }).catch(() => undefined); // one a killed run left behind
    const dir = await mkdtemp(`/tmp/${name}-broker-`);
    const conf = [`listeners.tcp.local = 127.0.0.1:${port}`, ...(extra.conf ?? [])];
    writeFileSync(join(dir, 'rabbitmq.conf'), `${conf.join('\n')}\n`);
    writeFileSync(join(dir, 'plugins'), `[${(extra.plugins ?? []).join(',')}].\n`);
    await execFileP('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
    const broker = new PrivateBroker(node, port, dir);
    await broker.boot();
    return broker;
  }

  /** Sets off (or clears) a memory alarm: the node blocks every connection that publishes. */
  async alarm(on: boolean): Promise<void> {
    await this.ctl('set_vm_memory_high_watermark', on ? '0.000001' : '0.4');
  }

  /** kill -9 of the node's Erlang VM: a crash, no goodbye to any connection. */
  async kill(): Promise<void> {
    const pid = Number(readFileSync(join(this.dir, 'pid'), 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    // Gone, or a zombie its parent has not reaped yet: dead either way.
    const dead = (): boolean => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') === true;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 100; i += 1) {
      if (dead()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`broker pid ${pid} still alive 10 s after SIGKILL`);
  }

  /** Starts the node again on its own files (after kill()). */
  async boot(): Promise<void> {
    const env = {
      ...process.env,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_DIST_PORT: String(this.port + 20_000),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'plugins'),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_PID_FILE: join(this.dir, 'pid'),
    };
    await execFileP('rabbitmq-server', ['-detached'], { env, timeout: 60_000 });
    // await_startup fails at once until the node has registered; it takes ~10 s to boot.
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        await this.ctl('await_startup', '--timeout', '60');
        return;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`RabbitMQ node ${this.node} never started (logs in ${this.dir}/log)`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Stops the broker application gracefully (every connection closed; queues kept on disk). */
  async stopApp(): Promise<void> {
    await this.ctl('stop_app');
  }

  async startApp(): Promise<void> {
    await this.ctl('start_app');
  }

  async stop(): Promise<void> {
    await this.ctl('stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** `rabbitmqctl -q -n NODE args`, its output. */
  async ctl(...args: string[]): Promise<string> {
    return (await execFileP('rabbitmqctl', ['-q', '-n', this.node, ...args], { timeout: 60_000 })).stdout;
  }
}
