import type { ErrorReporter } from '../adapters/error-reporter';
import type { Logging } from '../logging/logging';
import type { Coordinator } from './coordinator';

/**
 * The only place that listens to process signals and fatal events. SIGTERM/SIGINT drain (a
 * second one exits 1); SIGHUP reopens the log files and never stops the process; an uncaught
 * exception or unhandled rejection is fatal (exit 70 after a short shutdown).
 */
export function installProcessHandlers(proc: NodeJS.Process, coordinator: Coordinator, logging: Logging): void {
  proc.on('SIGTERM', () => coordinator.requestStop('SIGTERM'));
  proc.on('SIGINT', () => coordinator.requestStop('SIGINT'));
  proc.on('SIGHUP', () => {
    logging.reopen();
    logging.logger.info('SIGHUP: log files reopened');
  });
  proc.on('uncaughtException', (err) => coordinator.fail(err));
  proc.on('unhandledRejection', (reason) => coordinator.fail(reason));
}

/** How long the exit waits for error reports under way (a fatal error's among them). */
const REPORT_FLUSH_MS = 1_500;

/**
 * Flushes the logs and the error reports under way (at most 1.5 s) and ends the process with
 * `code`, even if flushing hangs.
 */
export function exitAfterFlush(proc: NodeJS.Process, logging: Logging, code: number, reporter?: ErrorReporter): void {
  const hard = setTimeout(() => proc.exit(code), 2_000);
  hard.unref();
  logging.flushSync();
  (reporter?.flush(REPORT_FLUSH_MS) ?? Promise.resolve(true))
    .catch(() => false)
    .then(() => logging.close())
    .catch(() => undefined)
    .finally(() => proc.exit(code));
}
