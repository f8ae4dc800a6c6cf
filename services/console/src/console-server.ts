import { readFileSync } from 'node:fs';
import type { CheckThresholds } from '@cmq/actions';
import type { Component } from '@cmq/common';
import { parseListen } from '@cmq/config';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app';
import type { ConsoleContext } from './context';

/**
 * The HTTP(S) server as a lifecycle component: listens once PostgreSQL and Redis are started
 * (the coordinator starts it after them); on drain it ends every live stream, stops accepting
 * connections and waits for the requests in flight; `destroy` drops what is left.
 */
export class ConsoleServer implements Component {
  readonly name = 'http';
  private app: FastifyInstance | undefined;
  /** Requests answered (the heartbeat's `processed`). */
  served = 0;

  constructor(
    private readonly ctx: ConsoleContext,
    private readonly thresholds: CheckThresholds,
  ) {}

  /** Where it listens, once listening (`http://127.0.0.1:8080`). */
  address: string | undefined;

  async start(): Promise<void> {
    const { console: c } = this.ctx.config.own;
    const listen = parseListen(c.listen);
    if (typeof listen === 'string') throw new Error(`console.listen: ${listen}`);
    const https = c.tls.cert === '' ? undefined : { cert: readFileSync(c.tls.cert), key: readFileSync(c.tls.key) };
    const app = await buildApp(this.ctx, this.thresholds, { https });
    app.addHook('onResponse', (_req, _reply, done) => {
      this.served += 1;
      done();
    });
    this.app = app;
    this.address = await app.listen({ host: listen.host, port: listen.port });
    this.ctx.logger.info({ address: this.address }, `console listening on ${this.address}`);
  }

  async close(): Promise<void> {
    this.ctx.streams.closeAll();
    await this.app?.close();
  }

  destroy(): void {
    this.ctx.streams.closeAll();
    this.app?.server.closeAllConnections();
  }
}
