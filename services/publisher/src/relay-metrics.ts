import { Counter, FAMILIES, Gauge, type Registry } from '@cmq/common';

/** What the relay counts, for `<service>-<name>.prom`. */
export class RelayMetrics {
  readonly published: Counter<'family'>;
  readonly expired: Counter;
  readonly inflight: Gauge<'family'>;

  constructor(registry: Registry, window: number) {
    this.published = new Counter({
      name: 'cmq_relay_published_total',
      help: 'Actions published onto cmq.actions (confirmed by the broker), by family.',
      labelNames: ['family'],
      registers: [registry],
    });
    this.expired = new Counter({
      name: 'cmq_actions_expired_total',
      help: 'Actions that expired before they could run.',
      registers: [registry],
    });
    this.inflight = new Gauge({
      name: 'cmq_relay_in_flight',
      help: 'Actions of the family queued or running, as the relay last counted them.',
      labelNames: ['family'],
      registers: [registry],
    });
    const limit = new Gauge({
      name: 'cmq_relay_window',
      help: 'The relay window (relay.window): most actions of a family queued or running at once.',
      labelNames: ['family'],
      registers: [registry],
    });
    for (const family of FAMILIES) {
      limit.set({ family }, window);
      this.published.inc({ family }, 0);
      this.inflight.set({ family }, 0);
    }
  }
}
