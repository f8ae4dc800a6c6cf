import {
  type ControlMessage,
  type ControlReply,
  CONTROL_VERSION,
  type WorkerIdentity,
  describeCommand,
  describeTarget,
  parseControlMessage,
  targetMatches,
} from '@cmq/actions';
import {
  type AmqpClient,
  type Component,
  type ControlDelivery,
  Exchanges,
  type Logger,
  errorText,
  listenOwnQueue,
  replyTo,
  workerControlKey,
} from '@cmq/common';
import type { FamilyPauses, PauseOutcome } from './family-pauses';

export interface ControlListenerOptions {
  /** The connection to listen and answer on (its own queue lives as long as the connection). */
  client: AmqpClient;
  /** Who this process is now (state, queues and pauses included): every reply carries it. */
  identity: () => WorkerIdentity;
  pauses: FamilyPauses;
  /** Starts the graceful stop, exactly as the first SIGTERM does (the coordinator's requestStop). */
  drain: (reason: string) => void;
  logger: Logger;
}

/**
 * Obeys worker-control messages (`cmq.control`, routing key `workers.subscriber`) on a queue of
 * this process alone: `drain` stops it as SIGTERM does, `pause`/`resume FAMILY` stop and restart
 * one family's consumer, `ping` answers who it is. Every command addressed here is answered (when
 * the sender gave a reply queue) and logged with its sender. A message that is malformed or
 * addressed to another process is ignored with a log line: it never stops the process.
 */
export class ControlListener implements Component {
  readonly name = 'control-listener';
  private closing = false;

  constructor(private readonly opts: ControlListenerOptions) {}

  async start(): Promise<void> {
    await listenOwnQueue(this.opts.client, Exchanges.control, [workerControlKey('subscriber')], (d) => {
      void this.handle(d).catch((err: unknown) =>
        this.opts.logger.error({ err: errorText(err) }, 'control message handling failed'),
      );
    });
    this.opts.logger.info({ routingKey: workerControlKey('subscriber') }, 'listening for worker control');
  }

  /** From now on only `ping` is obeyed (the process is stopping); the queue goes with the connection. */
  close(): Promise<void> {
    this.closing = true;
    return Promise.resolve();
  }

  destroy(): void {
    this.closing = true;
  }

  private async handle(delivery: ControlDelivery): Promise<void> {
    const parsed = parseControlMessage(delivery.content);
    if (!parsed.ok) {
      this.opts.logger.warn(
        { routingKey: delivery.routingKey, problem: parsed.error },
        `control message ignored: ${parsed.error}`,
      );
      return;
    }
    const message = parsed.value;
    const me = this.opts.identity();
    if (!targetMatches(message.target, me)) {
      this.opts.logger.info(
        { control: message.id, actor: message.actor, target: message.target },
        `control message ignored: addressed to ${describeTarget(message.target)}`,
      );
      return;
    }
    const result = await this.obey(message, me.state);
    const what = describeCommand(message.command);
    this.opts.logger.info(
      {
        control: message.id,
        actor: message.actor,
        command: what,
        outcome: result.outcome,
        detail: result.detail,
        // From sending to obeyed (clocks of two hosts: a rough figure across machines).
        ageMs: Date.now() - Date.parse(message.sent_at),
      },
      `control ${what} from ${message.actor}: ${result.outcome} (${result.detail})`,
    );
    await this.answer(delivery, message, result);
    // After the answer: the sender hears "done" before the consumers stop.
    if (message.command.command === 'drain' && result.outcome === 'done')
      this.opts.drain(`worker control: drain from ${message.actor}`);
  }

  private async obey(message: ControlMessage, state: string): Promise<PauseOutcome> {
    const command = message.command;
    if (command.command === 'ping') return { outcome: 'done', detail: 'pong' };
    if (this.closing || state === 'draining' || state === 'stopped' || state === 'failed')
      return { outcome: 'unchanged', detail: `already stopping (${state})` };
    if (command.command === 'drain')
      return { outcome: 'done', detail: 'draining: finishing in-flight work, then exit 0' };
    if (command.command === 'pause') return this.opts.pauses.pause(command.family, message.actor);
    return this.opts.pauses.resume(command.family, message.actor);
  }

  private async answer(delivery: ControlDelivery, message: ControlMessage, result: PauseOutcome): Promise<void> {
    if (delivery.replyTo === undefined) return;
    const reply: ControlReply = {
      v: CONTROL_VERSION,
      id: message.id,
      command: message.command.command,
      outcome: result.outcome,
      detail: result.detail,
      identity: this.opts.identity(),
    };
    try {
      await replyTo(this.opts.client, delivery, Buffer.from(JSON.stringify(reply)));
    } catch (err) {
      this.opts.logger.warn({ err: errorText(err), control: message.id }, 'control reply not sent');
    }
  }
}
