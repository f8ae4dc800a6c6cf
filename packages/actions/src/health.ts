import type { Family } from '@cmq/common';

/**
 * The pinger's view of the system, shared by the pinger (writer) and `cmq check` / `cmq status`
 * (readers). Types only.
 *
 * Where it lives:
 * - Redis key `PINGER_SUMMARY_KEY` (names in @cmq/common): the latest summary as a JSON
 *   string, written by the pinger holding the lease every `pinger.interval`, expiring after
 *   3 × `pinger.interval` (so a summary that is there is at most that old; `cmq check` also
 *   compares `at` with `check.summary_max_age`).
 * - PostgreSQL table `pinger_history (id, at, pinger, summary jsonb)`: one row per interval,
 *   rows older than `history.retention` deleted by the pinger (migration 003).
 *
 * Heartbeats (every process): a Redis hash per process (key: `heartbeatKey` in @cmq/common),
 * expiring after 3 × `interval_ms`, fields {@link HeartbeatFields}.
 */

/** One dependency probe, timed. */
export interface DependencyCheck {
  ok: boolean;
  /** How long the probe took (or until it failed), in ms. */
  ms: number;
  /** Why it failed (absent when ok). Never holds a secret. */
  error?: string;
}

/**
 * The canary of one family:
 * - `ok`: the last canary succeeded within `canary.timeout`; `latency_ms` = finished_at − created_at.
 * - `late`: the last canary succeeded, but after `canary.timeout`; `latency_ms` set.
 * - `pending`: a canary is in flight, younger than `canary.timeout`; `latency_ms` is the previous
 *   canary's (null when there was none); `sent_at` is the one in flight.
 * - `lost`: the canary did not succeed within `canary.timeout` (cancelled by the pinger, or it
 *   ended dead/expired/...); `latency_ms` null.
 * - `none`: the family is not in `canary.families`.
 */
export type CanaryState = 'ok' | 'late' | 'lost' | 'pending' | 'none';

export interface CanaryReport {
  state: CanaryState;
  latency_ms: number | null;
  /** When the canary this report describes was sent (ISO), null for `none`. */
  sent_at: string | null;
}

/** The health of one queue family. */
export interface FamilyHealth {
  /** Live subscriber heartbeats whose `queues` field includes the family. */
  consumers: number;
  /** Actions `pending` or `retrying` and due now (waiting for the relay). */
  backlog: number;
  /** Actions `queued` (published, not yet claimed). */
  queued: number;
  /** Actions `running`. */
  running: number;
  /**
   * Age in seconds of the oldest action waiting: pending/retrying and due (waiting since
   * max(created_at, not_before)), or queued (since queued_at). Null when none waits.
   */
  oldest_age_s: number | null;
  /** Messages ready in `cmq.<family>` (RabbitMQ's passive declare); null when the broker did not answer. */
  broker_depth: number | null;
  canary: CanaryReport;
}

/** A live process (its heartbeat is in Redis) that says it waits for something. */
export interface WaitingProcess {
  service: string;
  name: string;
  host: string;
  pid: number;
  /** Its heartbeat's `waiting` text ("broker blocked publishing: low on memory"); never empty. */
  waiting: string;
}

/** What the Redis summary key holds (JSON) and `pinger_history.summary` stores. */
export interface PingerSummary {
  /** When the summary was made (ISO). */
  at: string;
  /** `pinger:<name>@<host>:<pid>` of the pinger that made it (the lease holder). */
  pinger: string;
  /** The pinger's `pinger.interval`, ms. */
  interval_ms: number;
  dependencies: { postgres: DependencyCheck; redis: DependencyCheck; rabbitmq: DependencyCheck };
  families: Record<Family, FamilyHealth>;
  /** Actions that became `dead` plus dead letters recorded during the last interval. */
  dead_last_interval: number;
  /** Actions the reaper put back to `pending` during the last interval. */
  reaped_last_interval: number;
  /** Live processes waiting for something (a dependency, the broker's flow control), by service, name, host, pid. */
  waiting: WaitingProcess[];
}

/**
 * Whether a heartbeat's process consumes the queues it lists: a subscriber neither still
 * starting (waiting for PostgreSQL or the broker) nor draining (consuming no more). A heartbeat
 * without `state` (a release before the field) counts.
 */
export function consumesQueues(beat: { service: string; state: string }): boolean {
  return beat.service === 'subscriber' && (beat.state === 'running' || beat.state === '');
}

/**
 * Fields of a heartbeat hash (all strings in Redis). `queues` is comma-separated; `at` and
 * `started_at` ISO; the numbers decimal. `interval_ms` is the process's `heartbeat.interval`,
 * `loop_lag_ms` the event loop's delay over the last interval (p99, ms), `waiting` what the
 * process waits for (its status board: "waiting for broker at ...", "broker blocked publishing:
 * low on memory"), '' when nothing (absent from heartbeats of releases before it); `state` the
 * process's lifecycle state, `starting` (waiting for PostgreSQL or the broker), `running` or
 * `draining` (absent from releases before it).
 */
export interface HeartbeatFields {
  service: string;
  name: string;
  host: string;
  pid: string;
  version: string;
  started_at: string;
  at: string;
  queues: string;
  in_flight: string;
  processed: string;
  failed: string;
  rss: string;
  interval_ms: string;
  loop_lag_ms: string;
  waiting: string;
  state: string;
  /**
   * Families paused by worker control, JSON `{"<family>": {"by": "<actor>", "at": "<ISO>"}}`,
   * '' when none (absent from releases before it). A paused family is not in `queues`: that
   * field lists what the process consumes now.
   */
  paused: string;
}
