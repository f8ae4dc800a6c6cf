import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { countActions, countEvents, listActions, stateCounts } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, waitForLog } from '../helpers/process';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
/** Every subscriber started here, so that a test can stop those another left running. */
const subscribers: Spawned[] = [];
let publisher: Spawned | undefined;
const tenant = `drain-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: { 'subscriber.properties': { concurrency: 50, prefetch: 60, 'shutdown.drain_timeout': '8s' } },
  });
  await pipe.addTenants(tenant);
});

afterAll(async () => {
  await pipe.destroy();
});

it('SIGTERM with 50 slow actions in flight: finishes what fits in the drain deadline, hands back the rest, exits 0; all succeed after a restart', async () => {
  const quick = await pipe.submit(
    Array.from({ length: 25 }, () => ({ type: 'noop', tenant, args: { sleep_ms: 3_000 } })),
  );
  const slow = await pipe.submit(
    Array.from({ length: 25 }, () => ({ type: 'noop', tenant, args: { sleep_ms: 20_000 } })),
  );
  publisher = pipe.start('publisher');
  const first = startSubscriber();
  await waitFor(async () => (await countActions(pipe.pool, { state: 'running' })) === 50, 30_000, '50 actions running');

  const stopAt = Date.now();
  first.kill('SIGTERM');
  // (Quick ones take 3 s, well inside the 8 s deadline even when their start is spread out on a
  // loaded machine; slow ones take 20 s, well past it.)
  expect(await first.exitCode(15_000)).toBe(0);
  expect(Date.now() - stopAt).toBeLessThan(8_500);

  const state = new Map((await listActions(pipe.pool)).map((r) => [r.id, r.state]));
  expect(quick.map((id) => state.get(id))).toEqual(quick.map(() => 'succeeded'));
  expect(slow.map((id) => state.get(id))).toEqual(slow.map(() => 'queued'));
  expect(await countEvents(pipe.pool, { to: 'queued', reason: 'handed back%' })).toBe(25);

  startSubscriber();
  await pipe.allFinal(60_000);
  expect(await pipe.states()).toEqual({ succeeded: 50 });
  expect(Math.max(...(await listActions(pipe.pool)).map((r) => r.attempts))).toBe(1);
}, 120_000);

it('a second SIGTERM during the drain exits 1 at once, long before the deadline; nothing is lost: a new subscriber finishes every action', async () => {
  // Its own subscriber, whatever state the test above left its own in.
  for (const s of subscribers) s.kill('SIGKILL');
  await Promise.all(subscribers.map((s) => s.exited));
  if (publisher?.alive() !== true) publisher = pipe.start('publisher');
  const draining = startSubscriber();
  await pipe.running('subscriber', 'default', draining.pid);
  const ids = await pipe.submit(
    Array.from({ length: 10 }, () => ({ type: 'noop', tenant, args: { sleep_ms: 4_000 } })),
  );
  await waitFor(async () => (await countActions(pipe.pool, { ids, state: 'running' })) === 10, 30_000, '10 running');

  const log = join(pipe.logDir, 'subscriber-default.log');
  const mine = (msg: string) => (l: Record<string, unknown>) => Number(l.pid) === draining.pid && l.msg === msg;
  draining.kill('SIGTERM');
  await waitForLog(log, mine('stopping'), 10_000, 'the first SIGTERM taken');
  const secondAt = Date.now();
  draining.kill('SIGTERM');
  // Forced: exit 1, at once (the drain deadline is 8 s and the actions need 4 s more).
  expect(await draining.exitCode(5_000)).toBe(1);
  expect(Date.now() - secondAt).toBeLessThan(3_000);
  await waitForLog(log, mine('second stop request: exiting now'), 5_000, 'the forced exit logged');
  expect(await countActions(pipe.pool, { ids, state: 'succeeded' })).toBe(0);

  // Nothing lost (invariant 1): the broker gives the unacked messages to a new subscriber, which
  // takes over the rows the dead one left running.
  startSubscriber();
  await pipe.allFinal(60_000, ids);
  expect(await stateCounts(pipe.pool, { ids })).toEqual({ succeeded: 10 });
}, 120_000);

function startSubscriber(): Spawned {
  const s = pipe.start('subscriber');
  subscribers.push(s);
  return s;
}
