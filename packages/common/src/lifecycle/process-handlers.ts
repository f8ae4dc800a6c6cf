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

/** Flushes the logs and ends the process with `code`, even if flushing hangs. */
export function exitAfterFlush(proc: NodeJS.Process, logging: Logging, code: number): void {
  const hard = setTimeout(() => proc.exit(code), 2_000);
  hard.unref();
  logging.flushSync();
  logging
    .close()
    .catch(() => undefined)
    .finally(() => proc.exit(code));
}
