import { FAMILIES, type Family, type FileSpec, type ProcessKeys, duration, listOf, processKeys } from '@cmq/common';

export interface PingerConfig extends ProcessKeys {
  pinger: { interval: number };
  canary: { families: Family[]; timeout: number };
  history: { retention: number };
  check: {
    canary_warning: number;
    canary_critical: number;
    oldest_warning: number;
    oldest_critical: number;
    summary_max_age: number;
  };
}

/** Cross-key checks: thresholds in order, and a summary allowed to be older than one interval. */
function crossCheck(v: PingerConfig): Array<[string, string]> {
  const issues: Array<[string, string]> = [];
  if (v.check.summary_max_age <= v.pinger.interval)
    issues.push([
      'check.summary_max_age',
      `must be longer than pinger.interval (${v.pinger.interval} ms); about 3 × pinger.interval`,
    ]);
  if (v.check.canary_critical < v.check.canary_warning)
    issues.push(['check.canary_critical', 'must not be shorter than check.canary_warning']);
  if (v.check.oldest_critical < v.check.oldest_warning)
    issues.push(['check.oldest_critical', 'must not be shorter than check.oldest_warning']);
  if (v.canary.timeout <= v.pinger.interval)
    issues.push(['canary.timeout', `must be longer than pinger.interval (${v.pinger.interval} ms)`]);
  return issues;
}

/** `pinger.properties` (or `pinger-NAME.properties` for `--instance NAME`). */
export function pingerFile(instance?: string): FileSpec<PingerConfig> {
  return {
    file: instance === undefined ? 'pinger.properties' : `pinger-${instance}.properties`,
    title:
      'The pinger process: canaries, queue health, the reaper, the summary `cmq check` reads; logs, heartbeat, shutdown.',
    envPrefix: 'CMQ_PINGER_',
    schema: {
      ...processKeys(instance ?? 'main'),
      pinger: {
        interval: {
          doc: 'How often the pinger sends canaries, measures queues and dependencies, reaps, and writes its summary (Redis, expiring after 3 intervals) and a history row. Work done once across pingers holds a lease of 2 intervals.',
          format: duration(200, 3_600_000),
          default: 10_000,
        },
      },
      canary: {
        families: {
          doc: 'Queue families that get a `ping` canary action (tenant cmq-canary) every interval.',
          format: listOf(FAMILIES, 0),
          default: [...FAMILIES],
        },
        timeout: {
          doc: 'A canary not finished by then is `lost` (and cancelled). Longer than pinger.interval.',
          format: duration(500, 3_600_000),
          default: 30_000,
        },
      },
      history: {
        retention: {
          doc: 'How long pinger_history rows are kept; older ones are deleted by the pinger.',
          format: duration(60_000, 366 * 24 * 3_600_000),
          default: 7 * 24 * 3_600_000,
        },
      },
      check: {
        canary_warning: {
          doc: '`cmq check`: WARNING when a canary latency is above this.',
          format: duration(1, 3_600_000),
          default: 2_000,
        },
        canary_critical: {
          doc: '`cmq check`: CRITICAL when a canary latency is above this.',
          format: duration(1, 3_600_000),
          default: 10_000,
        },
        oldest_warning: {
          doc: '`cmq check`: WARNING when the oldest waiting action of a family is older than this.',
          format: duration(1_000, 7 * 24 * 3_600_000),
          default: 60_000,
        },
        oldest_critical: {
          doc: '`cmq check`: CRITICAL when the oldest waiting action of a family is older than this.',
          format: duration(1_000, 7 * 24 * 3_600_000),
          default: 300_000,
        },
        summary_max_age: {
          doc: '`cmq check`: CRITICAL when the pinger summary is older than this (no pinger is running). Longer than pinger.interval; about 3 × pinger.interval.',
          format: duration(1_000, 3 * 3_600_000),
          default: 30_000,
        },
      },
    },
    crossCheck,
  };
}
