import { randomBytes } from 'node:crypto';
import { countActions, countEvents, listEvents, waitForActions } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';

let pipe: Pipeline;
const suffix = randomBytes(3).toString('hex');
const [A, B] = [`flood-${suffix}`, `small-${suffix}`] as [string, string];

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: { 'publisher.properties': { 'relay.window': 200, 'relay.tenant_cap': 150 } },
  });
  await pipe.addTenants(A, B);
});

afterAll(async () => {
  await pipe.destroy();
});

it("one tenant's flood does not starve another's few actions", async () => {
  await pipe.submit(Array.from({ length: 20_000 }, () => ({ type: 'noop', tenant: A })));
  pipe.start('publisher');
  pipe.start('subscriber');
  // B arrives once A's flood is flowing.
  await waitForActions(pipe.pool, { state: 'succeeded' }, 1, 30_000, 'A flowing');
  const bIds = await pipe.submit(Array.from({ length: 10 }, () => ({ type: 'noop', tenant: B })));
  await pipe.allFinal(60_000, bIds);

  // Order, not wall-clock time: when B's last action finished, most of A's had not.
  const lastB = (await listEvents(pipe.pool, { to: 'succeeded', of: { tenant: B } })).at(-1);
  expect(lastB).toBeDefined();
  const doneA = await countEvents(pipe.pool, { to: 'succeeded', of: { tenant: A }, before: lastB?.id });
  expect(doneA).toBeLessThan(20_000 / 2);
  expect(await countActions(pipe.pool, { tenant: B, state: 'succeeded' })).toBe(10);
  await pipe.allFinal(120_000);
}, 180_000);
