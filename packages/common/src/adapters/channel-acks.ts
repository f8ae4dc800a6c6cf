import type { Channel, ConsumeMessage } from 'amqplib';

/** A delivery received and not yet acked to the broker: `null` while it is being worked on. */
type Slot = ConsumeMessage | null;

/**
 * Acks one channel's deliveries in as few frames as possible. Settled deliveries are acked once
 * per event-loop turn: the longest run of settled deliveries from the oldest unacked one with a
 * single `multiple` ack (one frame, and one settle command in a quorum queue, instead of one per
 * message), any settled delivery behind one still being worked on individually, so a slow
 * action never holds back the acks of quick ones (nor fills the prefetch window). A requeue is
 * sent at once: a later `multiple` ack cannot cover it, as the broker no longer counts it
 * outstanding on this channel.
 *
 * Delivery tags on a channel are consecutive, so each delivery's slot is found by its tag.
 * Every delivery on the channel must be `received` before it is settled.
 */
export class ChannelAcks {
  /** Slots of tags `base`, `base + 1`, ...: what has not been acked yet, in delivery order. */
  private slots: Slot[] = [];
  private head = 0;
  private base = 0;
  private scheduled = false;
  /** Settled deliveries behind an unsettled one, acked individually at the next flush. */
  private readonly stragglers = new Set<number>();

  constructor(
    private readonly channel: Channel,
    /** Told when an ack could not be sent (the channel closed: the broker requeues what it had not been told). */
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Records a delivery as being worked on (call for every delivery, in order). */
  received(msg: ConsumeMessage): void {
    const tag = msg.fields.deliveryTag;
    if (this.head === this.slots.length) {
      // Nothing outstanding: start afresh at this tag.
      this.slots = [];
      this.head = 0;
      this.base = tag;
    }
    // Consecutive tags; a gap (none expected) counts as settled elsewhere: acking past it is harmless.
    while (this.base + this.slots.length < tag) this.slots.push(GAP);
    this.slots.push(null);
  }

  /** Acks `msg` (soon: at the end of this event-loop turn, with the others settled meanwhile). */
  ack(msg: ConsumeMessage): void {
    const i = msg.fields.deliveryTag - this.base;
    if (i < this.head || i >= this.slots.length) {
      this.channel.ack(msg); // not tracked (cannot happen): ack it plainly
      return;
    }
    if (this.slots[i] !== null) return; // settled already
    this.slots[i] = msg;
    this.stragglers.add(i);
    this.schedule();
  }

  /** Requeues `msg` at once. */
  requeue(msg: ConsumeMessage): void {
    const i = msg.fields.deliveryTag - this.base;
    if (i >= this.head && i < this.slots.length && this.slots[i] === null) {
      this.slots[i] = GAP;
      this.schedule();
    }
    this.channel.nack(msg, false, true);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    let last: ConsumeMessage | undefined;
    let count = 0;
    while (this.head < this.slots.length) {
      const slot = this.slots[this.head] as Slot;
      if (slot === null) break;
      if (slot !== GAP) {
        last = slot;
        count += 1;
        this.stragglers.delete(this.head);
      }
      this.head += 1;
    }
    try {
      if (last !== undefined) this.channel.ack(last, count > 1);
      for (const i of this.stragglers) this.channel.ack(this.slots[i] as ConsumeMessage);
    } catch (err) {
      this.onError(err);
    } finally {
      for (const i of this.stragglers) this.slots[i] = GAP;
      this.stragglers.clear();
      if (this.head === this.slots.length) {
        this.slots = [];
        this.head = 0;
      } else if (this.head > 4096) {
        this.base += this.head;
        this.slots = this.slots.slice(this.head);
        this.head = 0;
      }
    }
  }
}

/** A slot that needs no ack from here (requeued, acked individually, or a gap in the tags). */
const GAP = Object.freeze({}) as unknown as ConsumeMessage;
