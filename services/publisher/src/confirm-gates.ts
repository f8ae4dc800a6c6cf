import { type AmqpClient, type Family, type StatusBoard, queueName } from '@cmq/common';

export interface ConfirmGatesOptions {
  amqp: AmqpClient;
  status: StatusBoard;
  confirmTimeoutMs: number;
  /** Called when a family's gate opens (the relay runs a cycle at once). */
  onOpen: () => void;
  /** Called once a gate has held for a further `confirmTimeoutMs` with no alarm to explain it: the relay reopens the connection. */
  onStale: (family: Family, outstanding: number, since: string) => void;
  /** A gate's opening threw (its status change or the relay's wake-up): logged. */
  onError: (err: unknown) => void;
}

/**
 * Per family: whether the relay holds back because the broker still owes confirms for a batch
 * of that family's queue the relay gave up on (a nack fails the batch at once while the rest may
 * still be on their way; a timeout leaves them all outstanding). A broker behind on one queue
 * then gets one copy of that batch, not one every cycle, and the other families go on. Each gate
 * is on the status board (heartbeat `waiting`, a WARNING in `cmq check`) while it holds; unless
 * a resource alarm explains the wait (the broker says so itself, and a new connection would be
 * blocked too), it asks for the connection to be reopened after a further `confirmTimeoutMs`,
 * which fails what still waits and so opens the gate: a queue that never confirms cannot hold
 * it for good.
 */
export class ConfirmGates {
  private readonly timers = new Map<Family, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: ConfirmGatesOptions) {}

  holds(family: Family): boolean {
    return this.timers.has(family);
  }

  /**
   * Holds `family` back until every one of `sends` (a batch of `total`) has settled;
   * `unanswered` counts those the broker has neither confirmed nor refused yet.
   */
  hold(family: Family, sends: Array<Promise<void>>, total: number, unanswered: () => number): void {
    if (this.closed) return;
    const { amqp, status, confirmTimeoutMs } = this.opts;
    const since = new Date().toISOString();
    const queue = queueName(family);
    const text = (): string =>
      `relay: the broker has not confirmed ${unanswered()} of ${total} actions of a ${queue} batch given up on at ${since}; relaying nothing to ${queue} until it does`;
    status.set(statusKey(family), text());
    // Once per gate: reopening the connection fails whatever still waits on it, so the gate
    // opens; while an alarm explains the wait, look again a confirm_timeout later.
    const arm = (): NodeJS.Timeout =>
      setTimeout(() => {
        status.set(statusKey(family), text());
        if (amqp.blocked !== undefined) this.timers.set(family, arm());
        else this.opts.onStale(family, unanswered(), since);
      }, confirmTimeoutMs);
    this.timers.set(family, arm());
    void Promise.allSettled(sends)
      .then(() => {
        if (this.closed) return;
        this.release(family);
        this.opts.onOpen();
      })
      .catch(this.opts.onError);
  }

  /** The relay closes: no gate holds or asks for anything any more. */
  close(): void {
    this.closed = true;
    for (const family of [...this.timers.keys()]) this.release(family);
  }

  private release(family: Family): void {
    clearTimeout(this.timers.get(family));
    this.timers.delete(family);
    this.opts.status.set(statusKey(family), undefined);
  }
}

const statusKey = (family: Family): string => `relay-${family}`;
