import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { errorText } from '../errors';
import type { Component } from '../lifecycle/component';
import { every } from '../lifecycle/timing';
import type { Logger } from '../logging/logging';

export { Counter, Gauge, Histogram, Registry };

export interface MetricsFileOptions {
  dir: string;
  service: string;
  name: string;
  intervalMs: number;
  logger: Logger;
}

/**
 * The process's Prometheus metrics, written without listening on a port: every interval the
 * registry goes to `<dir>/<service>-<name>.prom` in text exposition format, atomically (a
 * temporary file renamed over the old one), for node_exporter's textfile collector. Every
 * series carries `service` and `name` labels.
 */
export class MetricsFile implements Component {
  readonly name = 'metrics';
  readonly registry = new Registry();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  readonly path: string;

  constructor(private readonly opts: MetricsFileOptions) {
    this.registry.setDefaultLabels({ service: opts.service, name: opts.name });
    this.path = join(opts.dir, `${opts.service}-${opts.name}.prom`);
  }

  start(): Promise<void> {
    mkdirSync(this.opts.dir, { recursive: true });
    this.loop = every(
      this.opts.intervalMs,
      this.abort.signal,
      () => this.write(),
      (err) => {
        this.opts.logger.warn({ err: errorText(err), path: this.path }, 'metrics file not written');
      },
    );
    return Promise.resolve();
  }

  /** Writes the file now (also the last thing close() does, so the final counts are kept). */
  async write(): Promise<void> {
    const text = await this.registry.metrics();
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    // Readable by node_exporter's user whatever the service's umask (the units' UMask=0027 would
    // make it 0640): counts and ages, nothing secret.
    chmodSync(tmp, 0o644);
    renameSync(tmp, this.path);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.write().catch(() => undefined);
  }

  destroy(): void {
    this.abort.abort();
  }
}
