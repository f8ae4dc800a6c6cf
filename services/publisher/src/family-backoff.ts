import {
  type ErrorReporter,
  type Family,
  type Logger,
  PublishRefused,
  type StatusBoard,
  backoffDelay,
  errorCode,
  errorText,
  queueName,
} from '@cmq/common';

/** A family's refusals (nacks) in a row after which the connection is reopened, and again every REOPEN_EVERY more. */
export const REOPEN_AFTER = 5;
export const REOPEN_EVERY = 6;
/** The first and the longest wait of a failing family. */
const INITIAL_MS = 200;
const MAX_MS = 10_000;

export interface FamilyBackoffOptions {
  logger: Logger;
  /** Where a family failing again and again shows (heartbeat, `cmq check`). */
  status: StatusBoard;
  /** Asks for the broker connection to be reopened at the next cycle. */
  reopen: () => void;
  /** Where a family failing three times in a row is reported to operators (`sentry.dsn`). */
  reporter?: ErrorReporter;
  /** The clock and the jitter's source; tests pass their own. */
  now?: () => number;
  random?: () => number;
}

/**
 * The relay's per-family retry state: a family whose relaying failed waits, with capped
 * backoff, while the others go on. Logged for the first three failures in a row and every
 * tenth; from the third on, also on the status board (its count brought up to date with each
 * such log line) until it goes through. After REOPEN_AFTER refusals (nacks) in a row, and every
 * REOPEN_EVERY more, it asks for the connection to be reopened, since a new channel is taken
 * where the old one goes on being refused (docs/decisions/0004-relay-reopens-after-refusals.md).
 */
export class FamilyBackoff {
  /** Failures and refusals in a row, and when to try again. */
  private readonly retry = new Map<Family, { failures: number; refusals: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly opts: FamilyBackoffOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether `family` still waits out its backoff. */
  waiting(family: Family): boolean {
    return (this.retry.get(family)?.at ?? 0) > this.now();
  }

  /** `family` went through: its failures are forgotten and its status cleared. */
  succeeded(family: Family): void {
    if (this.retry.delete(family)) this.opts.status.set(statusKey(family), undefined);
  }

  /**
   * `family` failed with `err`; `log` is false when every family failed at once (the relay's
   * own backoff logs that once).
   */
  failed(family: Family, err: unknown, log: boolean): void {
    const before = this.retry.get(family);
    const failures = (before?.failures ?? 0) + 1;
    const refusals = err instanceof PublishRefused ? (before?.refusals ?? 0) + 1 : 0;
    const retryInMs = backoffDelay(failures, INITIAL_MS, MAX_MS, this.opts.random);
    this.retry.set(family, { failures, refusals, at: this.now() + retryInMs });
    const text = errorText(err);
    // The status changes with the log line only: each change of it is a log line and a heartbeat too.
    const noted = failures <= 3 || failures % 10 === 0;
    if (log && noted)
      this.opts.logger.warn({ family, err: text, failures, retryInMs }, 'relaying a family failed; the others go on');
    if (failures === 3)
      this.opts.reporter?.captureMessage(`relay: ${queueName(family)} failed 3 times in a row: ${text}`, {
        kind: 'warning',
        code: `relay_family_failing:${errorCode(err)}`,
        type: `relay.${family}`,
        extra: { family, failures },
      });
    if (failures >= 3 && noted)
      this.opts.status.set(
        statusKey(family),
        `relay: ${queueName(family)} failed ${failures} times in a row (last: ${text}); retrying with backoff`,
      );
    if (refusals === REOPEN_AFTER || (refusals > REOPEN_AFTER && (refusals - REOPEN_AFTER) % REOPEN_EVERY === 0)) {
      this.opts.logger.warn(
        { family, refusals },
        'the broker refused a family again and again: reopening the broker connection',
      );
      this.opts.reopen();
    }
  }
}

const statusKey = (family: Family): string => `relay-retry-${family}`;
