// What amqplib keeps out of its types: the socket under a connection, and its frame writer.
import type { ChannelModel } from 'amqplib';

/**
 * Makes amqplib write each round of outgoing frames with one system call. amqplib queues every
 * frame (a publish, an ack) on its channel's stream and, on the next turn of the event loop,
 * its multiplexer writes them to the socket one `write` each: one system call, and one TCP
 * segment for the broker to read, per message. Corking the socket for that round makes Node
 * hand the whole round to the kernel at once (writev). Nothing else changes: same frames, same
 * order. If amqplib's internals are not where this expects (another version), nothing is done.
 */
export function coalesceWrites(model: ChannelModel): void {
  type Muxer = { out?: { cork?: () => void; uncork?: () => void }; _readIncoming?: () => void };
  const muxer = (model as unknown as { connection?: { muxer?: Muxer } }).connection?.muxer;
  const out = muxer?.out;
  const readIncoming = muxer?._readIncoming;
  if (
    muxer === undefined ||
    typeof readIncoming !== 'function' ||
    typeof out?.cork !== 'function' ||
    typeof out.uncork !== 'function'
  )
    return;
  const cork = out.cork.bind(out);
  const uncork = out.uncork.bind(out);
  muxer._readIncoming = function coalesced(this: Muxer): void {
    cork();
    try {
      readIncoming.call(this);
    } finally {
      uncork();
    }
  };
}

/** The socket under an amqplib connection (not in its types). */
export function socketOf(model: ChannelModel | undefined): { destroy(err?: Error): void } | undefined {
  return (model as unknown as { connection?: { stream?: { destroy(err?: Error): void } } } | undefined)?.connection
    ?.stream;
}
