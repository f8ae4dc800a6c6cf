import { Counter, Gauge, Histogram, type Registry } from '@cmq/common';

/** What a subscriber counts, for `<service>-<name>.prom`. */
export class SubscriberMetrics {
  readonly outcomes: Counter<'type' | 'state'>;
  readonly duration: Histogram<'type'>;
  readonly deadLetters: Counter;

  constructor(registry: Registry, inFlight: () => number) {
    this.outcomes = new Counter({
      name: 'cmq_actions_total',
      help: 'Outcomes committed by this subscriber, by action type and resulting state (retrying counts retries).',
      labelNames: ['type', 'state'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'cmq_action_duration_seconds',
      help: 'Handler run time per attempt, by action type.',
      labelNames: ['type'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    });
    this.deadLetters = new Counter({
      name: 'cmq_dead_letters_total',
      help: 'Messages that matched no action and were dead-lettered.',
      registers: [registry],
    });
    new Gauge({
      name: 'cmq_actions_in_flight',
      help: 'Deliveries being handled now.',
      registers: [registry],
      collect() {
        this.set(inFlight());
      },
    });
  }

  /** Per action type, its duration histogram and its outcome counters by state (labelled once, not per action). */
  private readonly byType = new Map<
    string,
    { duration: { observe(v: number): void }; outcomes: Map<string, { inc(): void }> }
  >();

  /** Counts one committed outcome and its handler's run time. */
  observe(type: string, state: string, seconds: number): void {
    let t = this.byType.get(type);
    if (t === undefined) {
      t = { duration: this.duration.labels(type), outcomes: new Map() };
      this.byType.set(type, t);
    }
    let c = t.outcomes.get(state);
    if (c === undefined) {
      c = this.outcomes.labels(type, state);
      t.outcomes.set(state, c);
    }
    c.inc();
    t.duration.observe(seconds);
  }
}
