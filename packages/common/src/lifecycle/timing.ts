/**
 * Waits `ms`, or less if `signal` aborts. Resolves `true` when the full delay passed, `false`
 * when aborted. Never rejects, so loops can `while (await sleep(...))`.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Capped exponential backoff with ±20 % jitter: attempt 1 waits about `initialMs`, each next
 * attempt twice as long, never more than `maxMs`.
 */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(maxMs, jittered));
}

/**
 * Runs `tick` every `intervalMs` until `signal` aborts. Ticks never overlap: the next delay
 * starts when the previous tick has finished. A tick's error goes to `onError`, not up.
 */
export async function every(
  intervalMs: number,
  signal: AbortSignal,
  tick: () => Promise<void>,
  onError: (err: unknown) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await tick();
    } catch (err) {
      onError(err);
    }
    if (!(await sleep(intervalMs, signal))) return;
  }
}

/**
 * `work`, unless `ms` pass first (then a rejection with `late(false)`) or `signal` aborts (with
 * `late(true)`). The timer and the listener go as soon as either settles; `work` itself goes on
 * (a broker's confirm may still come), so a caller that gives up must expect it.
 */
export async function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  late: (stopped: boolean) => Error,
  signal?: AbortSignal,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late(false)), ms);
    if (signal === undefined) return;
    onAbort = () => reject(late(true));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}
