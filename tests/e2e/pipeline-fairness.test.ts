import { randomBytes } from 'node:crypto';
import { Pipeline } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

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
  await waitFor(
    async () =>
      ((await pipe.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM actions WHERE state = 'succeeded'"))
        .rows[0]?.n ?? 0) > 0,
    30_000,
    'A flowing',
  );
  const bIds = await pipe.submit(Array.from({ length: 10 }, () => ({ type: 'noop', tenant: B })));
  await pipe.allFinal(60_000, bIds);

  // Order, not wall-clock time: when B's last action finished, most of A's had not.
  const { rows } = await pipe.pool.query<{ done_a: number }>(
    `SELECT count(*)::int AS done_a FROM action_events e JOIN actions a ON a.id = e.action_id
     WHERE a.tenant_id = $1 AND e.to_state = 'succeeded'
       AND e.id < (SELECT max(e2.id) FROM action_events e2 JOIN actions b ON b.id = e2.action_id WHERE b.tenant_id = $2 AND e2.to_state = 'succeeded')`,
    [A, B],
  );
  const doneA = rows[0]?.done_a ?? 0;
  expect(doneA).toBeLessThan(20_000 / 2);
  expect(
    (await pipe.pool.query("SELECT count(*)::int AS n FROM actions WHERE tenant_id = $1 AND state = 'succeeded'", [B]))
      .rows[0],
  ).toEqual({ n: 10 });
  await pipe.allFinal(120_000);
}, 180_000);
