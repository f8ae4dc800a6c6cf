/** Lifecycle states of a process, logged on every change. */
export type LifecycleState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/**
 * A part of a process with a lifecycle: started in order, closed in reverse order.
 */
export interface Component {
  readonly name: string;
  /**
   * Resolves once the component does its job. While a dependency is down it keeps retrying
   * (reporting through the status board) until it succeeds or `signal` aborts.
   * Rejects only for problems retrying cannot fix (bad schema, bad credentials file...).
   */
  start(signal: AbortSignal): Promise<void>;
  /** Graceful: stop taking work, finish or hand back what is in flight, close. Idempotent. */
  close(): Promise<void>;
  /** Forceful: drop connections now (deadline passed). Never throws. */
  destroy(): void;
}

/**
 * What each component is waiting for, if anything. The coordinator turns it into the systemd
 * STATUS= line and a log line on each change.
 */
export class StatusBoard {
  private readonly waiting = new Map<string, string>();
  private listener: (() => void) | undefined;

  /** `text` says what `component` waits for ("waiting for broker at ..."); `undefined` clears it. */
  set(component: string, text: string | undefined): void {
    const before = this.waiting.get(component);
    if (text === undefined) this.waiting.delete(component);
    else this.waiting.set(component, text);
    if (before !== text) this.listener?.();
  }

  /**
   * Everything waited for, joined; empty when nothing is. A text two components share (a
   * subscriber's two connections to the same broker) is said once.
   */
  summary(): string {
    return [...new Set(this.waiting.values())].join('; ');
  }

  onChange(listener: () => void): void {
    this.listener = listener;
  }
}
