import type { PingerSummary } from '@cmq/actions';
import { Counter, FAMILIES, Gauge, type RedisClient, type Registry } from '@cmq/common';

/** What the pinger reports, for `<service>-<name>.prom`: its last summary, as gauges. */
export class PingerMetrics {
  private readonly canary: Gauge<'family'>;
  private readonly backlog: Gauge<'family'>;
  private readonly oldest: Gauge<'family'>;
  private readonly consumers: Gauge<'family'>;
  private readonly dependency: Gauge<'dependency'>;
  private readonly heartbeatAge: Gauge<'process'>;
  private readonly dead: Counter;
  private readonly reaped: Counter;

  constructor(registry: Registry) {
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> =>
      new Gauge({ name, help, labelNames, registers: [registry] });
    this.canary = gauge(
      'cmq_canary_latency_seconds',
      'End-to-end latency of the last canary that came back, by family.',
      ['family'],
    );
    this.backlog = gauge('cmq_backlog', 'Actions due and waiting in PostgreSQL (pending or retrying), by family.', [
      'family',
    ]);
    this.oldest = gauge('cmq_oldest_waiting_seconds', 'Age of the oldest action waiting, by family (0 when none).', [
      'family',
    ]);
    this.consumers = gauge('cmq_live_subscribers', 'Subscribers with a live heartbeat consuming the family.', [
      'family',
    ]);
    this.dependency = gauge('cmq_dependency_up', '1 when the pinger reached the dependency in its last check.', [
      'dependency',
    ]);
    this.heartbeatAge = gauge(
      'cmq_heartbeat_age_seconds',
      'Seconds since each live process last wrote its heartbeat.',
      ['process'],
    );
    this.dead = new Counter({
      name: 'cmq_dead_total',
      help: 'Actions that ended dead plus messages dead-lettered, as the pinger counted them.',
      registers: [registry],
    });
    this.reaped = new Counter({
      name: 'cmq_reaped_total',
      help: 'Running actions sent back to the relay because their worker stopped heartbeating.',
      registers: [registry],
    });
  }

  observe(summary: PingerSummary): void {
    for (const family of FAMILIES) {
      const f = summary.families[family];
      if (f.canary.latency_ms !== null) this.canary.set({ family }, f.canary.latency_ms / 1000);
      this.backlog.set({ family }, f.backlog);
      this.oldest.set({ family }, f.oldest_age_s ?? 0);
      this.consumers.set({ family }, f.consumers);
    }
    for (const [name, dep] of Object.entries(summary.dependencies))
      this.dependency.set({ dependency: name }, dep.ok ? 1 : 0);
    this.dead.inc(summary.dead_last_interval);
    this.reaped.inc(summary.reaped_last_interval);
  }

  /** Reads every live heartbeat (SCAN, never KEYS; one pipelined HGETALL) and sets its age, labelled `service:name@host:pid`. */
  async refreshHeartbeats(redis: RedisClient, now = Date.now()): Promise<void> {
    const ages = new Map<string, number>();
    for (const { fields } of await redis.heartbeats.readAll()) {
      const { service, name, host, pid, at } = fields;
      if (service === undefined || name === undefined || host === undefined || pid === undefined || at === undefined)
        continue;
      ages.set(`${service}:${name}@${host}:${pid}`, Math.max(0, (now - Date.parse(at)) / 1000));
    }
    this.heartbeatAge.reset();
    for (const [process, age] of ages) this.heartbeatAge.set({ process }, age);
  }
}
