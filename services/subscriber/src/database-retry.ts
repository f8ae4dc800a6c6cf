import { IntakeError } from '@cmq/actions';
import { type Logger, backoffDelay, errorText, sleep } from '@cmq/common';

/**
 * Retries a database step (capped backoff, 100 ms to 5 s) until it works or `signal` aborts, then
 * throws its last error. An IntakeError, or an error `final` accepts, is thrown at once:
 * retrying cannot cure it.
 */
export async function retryDatabaseStep<T>(
  step: () => Promise<T>,
  signal: AbortSignal,
  logger: Logger,
  final: (err: unknown) => boolean = () => false,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (err) {
      if (err instanceof IntakeError || final(err) || signal.aborted) throw err;
      logger.warn({ err: errorText(err), attempt }, 'database step failed; retrying');
      if (!(await sleep(backoffDelay(attempt, 100, 5_000), signal))) throw err;
    }
  }
}
