import type { Handler } from './handler';

/** A canary: answers at once with when it was sent and when it ran. */
export const ping: Handler<'ping'> = ({ args }) =>
  Promise.resolve({
    status: 'succeeded',
    result: { pong: true, sent_at: args.sent_at ?? null, ran_at: new Date().toISOString() },
  });
