import { randomBytes } from 'node:crypto';
import { countActions, countEvents, listActions } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
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
  pipe.start('publisher');
  const first = pipe.start('subscriber');
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

  pipe.start('subscriber');
  await pipe.allFinal(60_000);
  expect(await pipe.states()).toEqual({ succeeded: 50 });
  expect(Math.max(...(await listActions(pipe.pool)).map((r) => r.attempts))).toBe(1);
}, 120_000);
