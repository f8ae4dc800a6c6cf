import { logPathProblem } from './log-path';
import { type FileSpec, type ProcessKeys, bool, decimal, duration, integer, list, processKeys } from '@cmq/common';

/** A remote file path as guest.logs.collect takes it (the same rule as `cmq guests add --log-paths`). */
function checkRemotePath(p: string): void {
  const problem = logPathProblem(p);
  if (problem !== undefined) throw new Error(`"${p}" ${problem}`);
}

export interface PublisherConfig extends ProcessKeys {
  relay: { batch_size: number; window: number; tenant_cap: number; sweep_interval: number; confirm_timeout: number };
  logs: { collect_interval: number; paths: string[] };
  sync: {
    enabled: boolean;
    interval: { servers: number; firewalls: number; volumes: number; budget: number };
    jitter: number;
    lease: number;
  };
  policies: { interval: number; fleet_max: number; rate_window: number };
  history: HistoryKeys;
}

/** publisher.properties `history.*`: retention of history (docs/history.md). */
export interface HistoryKeys {
  enabled: boolean;
  interval: number;
  batch: number;
  batch_pause: number;
  partitions_ahead: number;
  lease: number;
  retention: {
    succeeded: number;
    cancelled: number;
    failed: number;
    dead: number;
    expired: number;
    rejected: number;
    dead_letters: number;
    audit: number;
    resource_changes: number;
  };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Longest retention a key takes: ten years. */
const RETENTION_MAX = 3_650 * DAY;

function retention(what: string, days: number): { doc: string; format: string; default: number } {
  return {
    doc: `How long ${what} is kept before retention deletes it.`,
    format: duration(HOUR, RETENTION_MAX),
    default: days * DAY,
  };
}

/** `publisher.properties` (or `publisher-NAME.properties` for `--instance NAME`). */
export function publisherFile(instance?: string): FileSpec<PublisherConfig> {
  return {
    file: instance === undefined ? 'publisher.properties' : `publisher-${instance}.properties`,
    title:
      'The publisher process: the relay (outbox to broker), guest log collection schedule, cloud sync schedule, logs, heartbeat, shutdown.',
    envPrefix: 'CMQ_PUBLISHER_',
    schema: {
      ...processKeys(instance ?? 'main'),
      relay: {
        batch_size: {
          doc: 'Most actions the relay moves onto the broker in one transaction.',
          format: integer(1, 10_000),
          default: 500,
        },
        window: {
          doc: "Most actions of one queue family queued or running at once; the backlog waits in PostgreSQL. Size it from the consumers' prefetch.",
          format: integer(1, 1_000_000),
          default: 1000,
        },
        tenant_cap: {
          doc: 'Most actions of one tenant in one family queued or running at once, so no tenant starves another.',
          format: integer(1, 1_000_000),
          default: 200,
        },
        sweep_interval: {
          doc: 'How often the relay looks for due work when no notification woke it (retries and countdowns coming due).',
          format: duration(50, 60_000),
          default: 1_000,
        },
        confirm_timeout: {
          doc: 'Longest the relay waits for the broker to confirm a batch; past it the batch is rolled back and stays due, and after a further such time without a resource alarm the broker connection is reopened (docs/architecture.md).',
          format: duration(100, 600_000),
          default: 30_000,
        },
      },
      logs: {
        collect_interval: {
          doc: 'How often a guest.logs.collect action is scheduled for each guest (one per guest per interval, whichever publisher schedules it). A guest whose previous collection has not finished is left out of that interval, and an inactive guest (`cmq guests deactivate`) altogether.',
          format: duration(1_000, 86_400_000),
          default: 60_000,
        },
        paths: {
          doc: 'Absolute remote files, comma-separated, collected on every guest that has no log_paths of its own (empty: only guests with their own are collected).',
          format: list('remote-path', checkRemotePath, 0),
          default: ['/var/log/syslog'],
        },
      },
      sync: {
        enabled: {
          doc: 'Whether this publisher schedules sync.servers, sync.firewalls, sync.volumes and sync.budget for every enabled account of an enabled tenant (one publisher at a time holds the scheduling lease).',
          format: bool,
          default: true,
        },
        interval: {
          servers: {
            doc: 'Time between two sync.servers of one account.',
            format: duration(1_000, 86_400_000),
            default: 60_000,
          },
          firewalls: {
            doc: 'Time between two sync.firewalls of one account.',
            format: duration(1_000, 86_400_000),
            default: 15_000,
          },
          volumes: {
            doc: 'Time between two sync.volumes of one account.',
            format: duration(1_000, 86_400_000),
            default: 300_000,
          },
          budget: {
            doc: 'Time between two sync.budget of one account.',
            format: duration(1_000, 7 * 86_400_000),
            default: 3_600_000,
          },
        },
        jitter: {
          doc: 'Each next run moves by up to this fraction of its interval, either way, so accounts do not all poll at once (0 for none).',
          format: decimal(0, 0.5),
          default: 0.1,
        },
        lease: {
          doc: 'The scheduling lease (in PostgreSQL): the holder renews it every third of this; when it dies, another publisher takes over within this time.',
          format: duration(1_000, 600_000),
          default: 15_000,
        },
      },
      policies: {
        interval: {
          doc: 'Time between two evaluations of the autoscaling policies (provisioning.cfg mode=dynamic only, by the publisher holding the scheduling lease; docs/autoscaling.md).',
          format: duration(500, 600_000),
          default: 10_000,
        },
        fleet_max: {
          doc: 'Most worker servers of every policy together (ready, launching and draining): a launch that would pass it is held.',
          format: integer(0, 10_000),
          default: 20,
        },
        rate_window: {
          doc: 'The window over which arrivals and completions per slot are measured for the autoscaling decision.',
          format: duration(1_000, 3_600_000),
          default: 60_000,
        },
      },
      history: {
        enabled: {
          doc: 'Whether this publisher prunes history when it holds the history lease (one publisher at a time does): final actions past their retention with their events, old dead letters, audit rows and resource changes, and the day partitions of action_events (created ahead, dropped once empty).',
          format: bool,
          default: true,
        },
        interval: {
          doc: 'Time between two passes of the history keeper (each pass removes everything then due, in batches).',
          format: duration(1_000, DAY),
          default: 300_000,
        },
        batch: {
          doc: 'Most actions (with their events) or rows removed per transaction; each batch is its own short transaction that skips rows another one holds.',
          format: integer(1, 100_000),
          default: 1_000,
        },
        batch_pause: {
          doc: 'Pause of the history keeper after each full batch, so that a large backlog of expired history (after an upgrade or a shortened retention) is removed beside live work instead of competing with it for the database. 0 removes it back to back, as `cmq history prune` does.',
          format: duration(0, 60_000),
          default: 200,
        },
        partitions_ahead: {
          doc: 'Days of action_events partitions kept created ahead of today (UTC). Events of a day without a partition go to the default partition (`cmq history stats` shows it).',
          format: integer(1, 366),
          default: 7,
        },
        lease: {
          doc: 'The history lease (a row of sync_lease): its holder renews it at every pass; when it dies, another publisher takes over within this time plus one pass.',
          format: duration(1_000, DAY),
          default: 600_000,
        },
        retention: {
          succeeded: retention('a succeeded action (with its events), counted from when it finished,', 7),
          cancelled: retention('a cancelled action (with its events)', 7),
          failed: retention('a failed action (with its events)', 30),
          dead: retention('a dead action (with its events)', 30),
          expired: retention('an expired action (with its events)', 30),
          rejected: retention('a rejected action (with its events)', 30),
          dead_letters: retention('a dead letter (a message that matched no action)', 30),
          audit: retention("a row of the console's audit log", 365),
          resource_changes: retention('a recorded change of a cloud resource', 90),
        },
      },
    },
  };
}
