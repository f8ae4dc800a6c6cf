import { randomBytes } from 'node:crypto';
import { countEvents } from '../helpers/actions';
import { Pipeline, rabbitmqctl } from '../helpers/pipeline';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
const tenant = `orphan-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  pipe = await Pipeline.create();
  await pipe.addTenants(tenant);
});

afterAll(async () => {
  await pipe.destroy();
});

it('running actions of a worker that died, whose messages are lost too, go back to the relay and succeed', async () => {
  const ids = await pipe.submit(
    Array.from({ length: 5 }, () => ({ type: 'noop', tenant, args: { sleep_ms: 60_000 } })),
  );
  pipe.start('publisher');
  const first = pipe.start('subscriber');
  await waitFor(async () => (await pipe.states()).running === 5, 30_000, '5 running');
  first.kill('SIGKILL');
  await first.exited;
  // The unacked messages go back to the queue once the broker has seen the connection die: wait
  // for that (purged before, they would come back, and be taken over rather than reaped)...
  const conn = await brokerConnection(pipe.vhost);
  try {
    const ch = await conn.createChannel();
    await waitFor(
      async () => {
        const q = await ch.checkQueue('cmq.control');
        return q.consumerCount === 0 && q.messageCount === 5;
      },
      30_000,
      'the 5 unacked messages back in cmq.control',
    );
  } finally {
    await conn.close();
  }
  // ...then lose them, as a broker failure could.
  await rabbitmqctl('purge_queue', '-p', pipe.vhost, 'cmq.control');
  await pipe.pool.query("UPDATE actions SET args = '{}' WHERE id = ANY($1::bigint[])", [ids]);
  pipe.start('subscriber');
  await pipe.allFinal(60_000, ids);
  expect(await pipe.states()).toEqual({ succeeded: 5 });
  expect(await countEvents(pipe.pool, { to: 'pending', reason: 'reaped: worker subscriber:default@% is gone%' })).toBe(
    5,
  );
}, 90_000);
