import { Counter, Gauge, Histogram, type Registry } from '@cmq/common';

/** What a subscriber counts, for `<service>-<name>.prom`. */
export class SubscriberMetrics {
  readonly outcomes: Counter<'type' | 'state'>;
  readonly duration: Histogram<'type'>;
  readonly deadLetters: Counter;

  constructor(registry: Registry, inFlight: () => number) {
    this.outcomes = new Counter({ name: 'cmq_actions_total', help: 'Outcomes committed by this subscriber, by action type and resulting state (retrying counts retries).', labelNames: ['type', 'state'], registers: [registry] });
    this.duration = new Histogram({
      name: 'cmq_action_duration_seconds',
      help: 'Handler run time per attempt, by action type.',
      labelNames: ['type'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    });
    this.deadLetters = new Counter({ name: 'cmq_dead_letters_total', help: 'Messages that matched no action and were dead-lettered.', registers: [registry] });
    new Gauge({ name: 'cmq_actions_in_flight', help: 'Deliveries being handled now.', registers: [registry], collect() { this.set(inFlight()); } });
  }
}
