import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP } from './process';

const NODE = 'cmq-alarm@localhost';
const PORT = 5673;

async function ctl(...args: string[]): Promise<void> {
  await execFileP('rabbitmqctl', ['-q', '-n', NODE, ...args], { timeout: 60_000 });
}

/**
 * A second RabbitMQ node of its own (port 5673, files under /tmp) for a test that sets off a
 * resource alarm: an alarm blocks every publishing connection of its node, and the suite's
 * other tests share the main one.
 */
export class AlarmBroker {
  readonly url = `amqp://guest:guest@127.0.0.1:${PORT}`;

  private constructor(private readonly dir: string) {}

  static async start(): Promise<AlarmBroker> {
    await ctl('stop').catch(() => undefined); // one a killed run left behind
    const dir = await mkdtemp('/tmp/cmq-alarm-broker-');
    writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${PORT}\n`);
    writeFileSync(join(dir, 'plugins'), '[].\n');
    await execFileP('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
    const env = {
      ...process.env,
      RABBITMQ_NODENAME: NODE,
      RABBITMQ_DIST_PORT: String(PORT + 20_000),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'plugins'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_PID_FILE: join(dir, 'pid'),
    };
    await execFileP('rabbitmq-server', ['-detached'], { env, timeout: 60_000 });
    // await_startup fails at once until the node has registered; it takes ~10 s to boot.
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        await ctl('await_startup', '--timeout', '60');
        return new AlarmBroker(dir);
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the second RabbitMQ node never started (logs in ${dir}/log)`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Sets off (or clears) a memory alarm: the node blocks every connection that publishes. */
  async alarm(on: boolean): Promise<void> {
    await ctl('set_vm_memory_high_watermark', on ? '0.000001' : '0.4');
  }

  async stop(): Promise<void> {
    await ctl('stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
