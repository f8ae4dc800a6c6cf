import type { CmqErrorCode } from './error-codes';

export { type CmqErrorCode, ERROR_CODES, type ErrorCodeInfo, type ErrorRetry } from './error-codes';

/**
 * Errors with a stable `code` (`CMQ_ERR_...`) to branch on, a `cause`, and the retry decision:
 * `transient` errors are retried with backoff, permanent ones are dead-lettered at once.
 */
export class CmqError extends Error {
  readonly code: CmqErrorCode;
  readonly transient: boolean;

  constructor(code: CmqErrorCode, message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.transient = options.transient ?? false;
  }
}

/**
 * A dependency of cmq itself that a handler reaches, whose outage is not the fault of the action
 * that met it. (The broker is one too, but no handler reaches it: without it no delivery comes.)
 */
export type Dependency = 'redis' | 'postgres';

/**
 * A dependency of cmq itself did not answer (not reachable, connection lost, restarting). Raised
 * by the adapters, never by a handler's own judgement: the subscriber holds the action back
 * without counting the run as an attempt (see services/subscriber/src/outcome-decision.ts).
 */
export class DependencyUnavailableError extends CmqError {
  constructor(
    readonly dependency: Dependency,
    message: string,
    cause?: unknown,
  ) {
    super('CMQ_ERR_DEPENDENCY_UNAVAILABLE', message, { cause, transient: true });
  }
}

/** Whether `err` says a dependency of cmq itself is unavailable (by its code, whatever class made it). */
export function isDependencyUnavailable(err: unknown): err is CmqError {
  return err instanceof CmqError && err.code === 'CMQ_ERR_DEPENDENCY_UNAVAILABLE';
}

/** One problem in one configuration file (or environment variable). */
export interface ConfigIssue {
  /** The file (absolute path) or `env CMQ_...` the value came from. */
  source: string;
  /** The dotted key, e.g. `amqp.urls`. */
  key: string;
  message: string;
}

/** Thrown when configuration is invalid; carries every problem found, not just the first. */
export class ConfigError extends CmqError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('CMQ_ERR_CONFIG', formatIssues(issues));
    this.issues = issues;
  }
}

function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `  ${i.source}: ${i.key}: ${i.message}`);
  return `invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/** The database schema is missing or older than this release needs. */
export class SchemaError extends CmqError {
  constructor(message: string) {
    super('CMQ_ERR_SCHEMA', message);
  }
}

/** Process exit codes (sysexits.h where one fits). */
export const ExitCode = {
  OK: 0,
  /** Forced stop: second signal or drain deadline passed. */
  FORCED: 1,
  /** EX_SOFTWARE: uncaught exception or unhandled rejection. */
  SOFTWARE: 70,
  /** EX_CONFIG: bad configuration or schema; init must not restart-loop on it. */
  CONFIG: 78,
} as const;

/** Text of an unknown thrown value, for log lines and status messages. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/**
 * What kind of error `err` is, stable across occurrences (no ids, no counts): its `CMQ_ERR_*`
 * code, a system error's code (`ENOENT`), else its class name. Error reports group by it.
 */
export function errorCode(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && code !== '' ? code : err.name;
  }
  return typeof err;
}
