import { ChannelAcks } from '@cmq/common';
import type { Channel, ConsumeMessage } from 'amqplib';

/** A fake channel that records ack and nack frames. */
function fakeChannel(): { channel: Channel; frames: string[] } {
  const frames: string[] = [];
  const channel = {
    ack: (m: ConsumeMessage, multiple = false) =>
      frames.push(`ack ${m.fields.deliveryTag}${multiple ? ' multiple' : ''}`),
    nack: (m: ConsumeMessage) => frames.push(`nack ${m.fields.deliveryTag}`),
  } as unknown as Channel;
  return { channel, frames };
}

const msg = (tag: number): ConsumeMessage => ({ fields: { deliveryTag: tag } }) as unknown as ConsumeMessage;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ChannelAcks', () => {
  it('acks a settled run of deliveries with one multiple ack, once per event-loop turn', async () => {
    const { channel, frames } = fakeChannel();
    const acks = new ChannelAcks(channel, () => undefined);
    const ms = [1, 2, 3, 4].map(msg);
    ms.forEach((m) => acks.received(m));
    acks.ack(ms[1] as ConsumeMessage);
    acks.ack(ms[0] as ConsumeMessage);
    acks.ack(ms[2] as ConsumeMessage);
    expect(frames).toEqual([]);
    await turn();
    expect(frames).toEqual(['ack 3 multiple']);
    acks.ack(ms[3] as ConsumeMessage);
    await turn();
    expect(frames).toEqual(['ack 3 multiple', 'ack 4']);
  });

  it('acks deliveries behind one still being worked on individually, and never covers it', async () => {
    const { channel, frames } = fakeChannel();
    const acks = new ChannelAcks(channel, () => undefined);
    const ms = [10, 11, 12, 13].map(msg);
    ms.forEach((m) => acks.received(m));
    acks.ack(ms[0] as ConsumeMessage);
    acks.ack(ms[2] as ConsumeMessage);
    acks.ack(ms[3] as ConsumeMessage);
    await turn();
    expect(frames).toEqual(['ack 10', 'ack 12', 'ack 13']);
    acks.ack(ms[1] as ConsumeMessage);
    await turn();
    expect(frames).toEqual(['ack 10', 'ack 12', 'ack 13', 'ack 11']);
  });

  it('sends a requeue at once and acks past it afterwards', async () => {
    const { channel, frames } = fakeChannel();
    const acks = new ChannelAcks(channel, () => undefined);
    const ms = [1, 2, 3].map(msg);
    ms.forEach((m) => acks.received(m));
    acks.requeue(ms[1] as ConsumeMessage);
    expect(frames).toEqual(['nack 2']);
    acks.ack(ms[0] as ConsumeMessage);
    acks.ack(ms[2] as ConsumeMessage);
    await turn();
    expect(frames).toEqual(['nack 2', 'ack 3 multiple']);
  });

  it('reports an ack that cannot be sent instead of throwing', async () => {
    const channel = {
      ack: () => {
        throw new Error('channel closed');
      },
    } as unknown as Channel;
    const errors: unknown[] = [];
    const acks = new ChannelAcks(channel, (err) => errors.push(err));
    acks.received(msg(1));
    acks.ack(msg(1));
    await turn();
    expect(errors).toHaveLength(1);
  });
});
