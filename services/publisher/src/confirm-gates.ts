import { type AmqpClient, type Family, type Logger, type StatusBoard, queueName } from '@cmq/common';

export interface ConfirmGatesOptions {
  amqp: AmqpClient;
  logger: Logger;
  status: StatusBoard;
  confirmTimeoutMs: number;
  /** Called when a family's gate opens (the relay runs a cycle at once). */
  onOpen: () => void;
}

/**
 * Per family: whether the relay holds back because the broker still owes confirms for a batch
 * of that family's queue the relay gave up on (a nack fails the batch at once while the rest may
 * still be on their way; a timeout leaves them all outstanding). A broker behind on one queue
 * then gets one copy of that batch, not one every cycle, and the other families go on. Each gate
 * is on the status board (heartbeat `waiting`, a WARNING in `cmq check`) while it holds; unless
 * a resource alarm explains the wait (the broker says so itself, and a new connection would be
 * blocked too), the connection is reopened after each further `confirmTimeoutMs`, which fails
 * what still waits and so opens the gate: a queue that never confirms cannot hold it for good.
 */
export class ConfirmGates {
  private readonly timers = new Map<Family, NodeJS.Timeout>();

  constructor(private readonly opts: ConfirmGatesOptions) {}

  holds(family: Family): boolean {
    return this.timers.has(family);
  }

  /** Holds `family` back until every one of `sends` (a batch of `total`) has settled. */
  hold(family: Family, sends: Array<Promise<void>>, total: number, confirmed: () => number): void {
    const { amqp, logger, status, confirmTimeoutMs } = this.opts;
    const key = `relay-${family}`;
    const since = new Date().toISOString();
    const queue = queueName(family);
    const text = (): string => `relay: the broker has not confirmed ${total - confirmed()} of ${total} actions of a ${queue} batch given up on at ${since}; relaying nothing to ${queue} until it does`;
    status.set(key, text());
    this.timers.set(family, setInterval(() => {
      status.set(key, text());
      if (amqp.blocked !== undefined) return;
      logger.warn({ family, outstanding: total - confirmed(), total, since }, 'confirms of an abandoned batch still missing: reopening the broker connection');
      amqp.reconnect(confirmTimeoutMs);
    }, confirmTimeoutMs));
    void Promise.allSettled(sends).then(() => {
      clearInterval(this.timers.get(family));
      this.timers.delete(family);
      status.set(key, undefined);
      this.opts.onOpen();
    });
  }

  /** Stops the timers (the relay closes; what still waits no longer matters). */
  clear(): void {
    for (const timer of this.timers.values()) clearInterval(timer);
  }
}
