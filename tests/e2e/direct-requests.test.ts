import { listDead } from '@cmq/actions';
import { type ActionRow, listActions, listEvents, waitForActions, waitForFinal } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// Requests published straight onto cmq.actions (no id), as other platform components publish
// them, against the real broker: their scheduling is kept as `cmq call` keeps it, and a bad
// field is dead-lettered by name.

let pipe: Pipeline;
const TENANT = 'direct';

beforeAll(async () => {
  // One control action queued or running at a time: the relay's order (priority first) is the
  // order the actions start in.
  pipe = await Pipeline.create({
    config: {
      'publisher.properties': { 'relay.window': 1 },
      'subscriber.properties': { 'retry.initial_delay': '50ms', 'retry.max_delay': '100ms' },
    },
  });
  await pipe.addTenants(TENANT);
  pipe.start('subscriber');
  await pipe.running('subscriber', 'default');
});

afterAll(async () => {
  await pipe.destroy();
});

/** Publishes request bodies onto cmq.actions with publisher confirms. */
async function publish(...bodies: Array<Record<string, unknown>>): Promise<void> {
  const conn = await brokerConnection(pipe.vhost);
  try {
    const ch = await conn.createConfirmChannel();
    for (const b of bodies)
      ch.publish(
        'cmq.actions',
        `control.noop.${TENANT}`,
        Buffer.from(JSON.stringify({ type: 'noop', tenant: TENANT, ...b })),
      );
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

/** The action taken in with `idempotency_key` `key`, once there. */
async function byKey(key: string): Promise<ActionRow> {
  await waitForActions(pipe.pool, { idempotencyKey: key }, 1, 20_000);
  return (await listActions(pipe.pool, { idempotencyKey: key }))[0] as ActionRow;
}

async function runs(id: string): Promise<number> {
  return (await listEvents(pipe.pool, { ids: [id], to: 'running' })).length;
}

it('priority: of two requests waiting, the higher one starts first', async () => {
  // No publisher yet: both wait in PostgreSQL, the relay then picks by priority.
  await publish({ idempotency_key: 'low', priority: -5 }, { idempotency_key: 'high', priority: 9 });
  const [low, high] = [await byKey('low'), await byKey('high')];
  expect([low.priority, high.priority]).toEqual([-5, 9]);
  expect(Number(low.id)).toBeLessThan(Number(high.id));
  pipe.start('publisher');
  await pipe.running('publisher', 'main');
  const [lowDone, highDone] = [
    await waitForFinal(pipe.pool, low.id, 20_000),
    await waitForFinal(pipe.pool, high.id, 20_000),
  ];
  expect([lowDone.state, highDone.state]).toEqual(['succeeded', 'succeeded']);
  expect((highDone.started_at as Date).getTime()).toBeLessThan((lowDone.started_at as Date).getTime());
});

it('countdown, eta, an expiry in the past and max_attempts are honoured', async () => {
  const sent = Date.now();
  const eta = new Date(sent + 2 * 3_600_000).toISOString();
  await publish(
    { idempotency_key: 'countdown', countdown: 3600 },
    { idempotency_key: 'eta', eta },
    { idempotency_key: 'expired', expires: new Date(sent - 60_000).toISOString() },
    { idempotency_key: 'attempts', max_attempts: 2, args: { fail_times: 2 } },
  );
  const countdown = await byKey('countdown');
  const notBefore = countdown.not_before.getTime();
  expect(notBefore).toBeGreaterThanOrEqual(sent + 3_600_000 - 1_000);
  expect(notBefore).toBeLessThan(Date.now() + 3_600_000 + 1_000);
  expect((await byKey('eta')).not_before.toISOString()).toBe(eta);

  const expired = await waitForFinal(pipe.pool, (await byKey('expired')).id, 20_000);
  expect(expired.state).toBe('expired');
  expect(await runs(expired.id)).toBe(0);

  // fail_times 2 would succeed at the third attempt; max_attempts 2 ends it dead at the second.
  const attempts = await waitForFinal(pipe.pool, (await byKey('attempts')).id, 20_000);
  expect([attempts.state, attempts.attempts, attempts.max_attempts]).toEqual(['dead', 2, 2]);

  // The relay swept past them all meanwhile: the countdown and the eta still wait, never run.
  for (const key of ['countdown', 'eta']) {
    const row = await byKey(key);
    expect([key, row.state, await runs(row.id)]).toEqual([key, 'pending', 0]);
  }
});

it('an invalid scheduling field is dead-lettered with the field named, and nothing is taken in', async () => {
  const before = (await listActions(pipe.pool, { tenant: TENANT })).length;
  await publish(
    { countdown: -1 },
    { eta: 'tomorrow' },
    { expires: 'never' },
    { priority: 1000 },
    { max_attempts: 0 },
    { count_down: 60 },
    { countdown: 5, eta: new Date(Date.now() + 60_000).toISOString() },
    { countdown: 60, expires: new Date(Date.now() + 30_000).toISOString() },
  );
  const reasons = async (): Promise<string[]> =>
    (await listDead(pipe.pool, { tenant: TENANT, limit: 100 }))
      .filter((d) => d.id.startsWith('m'))
      .map((d) => d.reason);
  await waitFor(async () => (await reasons()).length >= 8, 20_000, 'eight dead letters');
  expect((await reasons()).sort()).toEqual(
    [
      'countdown: Too small: expected number to be >=0',
      'eta: Invalid ISO datetime',
      'expires: Invalid ISO datetime',
      'priority: Too big: expected number to be <=100',
      'max_attempts: Too small: expected number to be >=1',
      '(request): unknown field(s) count_down',
      'countdown and eta: give one of them, not both',
      'expires: must be later than the countdown or eta',
    ].sort(),
  );
  expect((await listActions(pipe.pool, { tenant: TENANT })).length).toBe(before);
});
