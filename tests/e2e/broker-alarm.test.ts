import { join } from 'node:path';
import { countActions, countEvents, listEvents, stateCounts, waitForActions } from '../helpers/actions';
import { PrivateBroker } from '../helpers/private-broker';
import { Pipeline } from '../helpers/pipeline';
import { logLines, runCmq, waitForLog } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// A RabbitMQ resource alarm (memory, disk) blocks every publishing connection: the broker reads
// nothing more from it, so the relay's batch waits for confirms that do not come. Its transaction
// must not hold the batch's rows locked (a `cmq cancel` of one would hang) until the alarm clears;
// the relay must not pile up copies while blocked; nothing may be lost or run twice; a subscriber
// that publishes a dead copy must go on consuming (its acks must not share the blocked connection);
// a publisher stopped while its batch waits on the blocked broker exits 0 at once, its rows still due.

let broker: PrivateBroker;
let p: Pipeline;

beforeAll(async () => {
  broker = await PrivateBroker.start('cmq-alarm', 5673);
  p = await Pipeline.create({
    config: {
      'mq.cfg': { 'amqp.urls': broker.url, 'amqp.vhost': '/', 'amqp.connect_timeout': '3s' },
      'publisher.properties': { 'relay.confirm_timeout': '2s' },
    },
  });
  await p.addTenants('t1');
  await p.startPublisherAndSubscriber();
}, 150_000);

afterAll(async () => {
  try {
    await p?.destroy();
  } finally {
    await broker?.stop();
  }
}, 60_000);

/** Whether any of the rows is locked by another transaction (the relay's). */
async function locked(ids: string[]): Promise<boolean> {
  const client = await p.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT id FROM actions WHERE id = ANY($1::bigint[]) FOR UPDATE NOWAIT', [ids]);
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') return true;
    throw err;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

it('a batch the blocked broker does not confirm is rolled back within relay.confirm_timeout and waits, unlocked and due, until the alarm clears; then every action runs once', async () => {
  const [first] = await p.submit([{ type: 'noop', tenant: 't1' }]);
  await p.allFinal(30_000, [first as string]);

  await broker.alarm(true);
  const ids = await p.submit(Array.from({ length: 20 }, () => ({ type: 'noop', tenant: 't1' })));
  const log = join(p.logDir, 'publisher-main.log');
  const timedOut = (l: Record<string, unknown>): boolean =>
    (l.msg === 'relay cycle failed; retrying' || l.msg === 'relaying a family failed; the others go on') &&
    String(l.err).includes('within relay.confirm_timeout (2000 ms) (broker blocked publishing: low on memory)');
  await waitForLog(log, timedOut, 30_000, 'the relay giving up on an unconfirmed batch');
  await waitFor(async () => !(await locked(ids)), 10_000, 'the batch rows unlocked');
  expect(await p.states()).toEqual({ succeeded: 1, pending: 20 });
  // The publisher's heartbeat says why (cmq status; cmq check names it too).
  const publisher = p.processes[0]?.pid;
  await waitFor(
    async () => {
      const status = JSON.parse((await runCmq(['status', '--json', '--config-dir', p.dir])).stdout) as {
        processes: Array<{ pid: number; waiting: string }>;
      };
      // Blocked, and so holding back the batch it gave up on, whose confirms the broker still owes.
      return status.processes.some(
        (x) =>
          x.pid === publisher &&
          /^broker blocked publishing: low on memory; relay: the broker has not confirmed 20 of 20 actions of a cmq\.control batch given up on at \S+; relaying nothing to cmq\.control until it does$/.test(
            x.waiting,
          ),
      );
    },
    10_000,
    'cmq status to show the publisher blocked',
  );

  // Blocked, the relay sends nothing more: no second batch times out while the alarm lasts. A
  // fixed wait on purpose: it proves that nothing happens for three confirm timeouts.
  await new Promise((r) => setTimeout(r, 6_000));
  expect(logLines(log).filter(timedOut)).toHaveLength(1);
  expect(await locked(ids)).toBe(false);
  expect(await p.states()).toEqual({ succeeded: 1, pending: 20 });

  await broker.alarm(false);
  await p.allFinal(60_000, ids);
  expect(await p.states()).toEqual({ succeeded: 21 });
  expect(await countEvents(p.pool, { ids, to: 'running' })).toBe(20);
}, 150_000);

it('cmq dead replay of a message, while the broker blocks publishing, fails in amqp.connect_timeout naming the block; replayed again later, it becomes one action', async () => {
  const body = Buffer.from(JSON.stringify({ type: 'noop', tenant: 't1' }));
  const { rows } = await p.pool.query<{ id: string }>(
    "INSERT INTO dead_letters (reason, routing_key, tenant_id, body, body_bytes, worker) VALUES ('test', 'control.noop.t1', 't1', $1, $2, 'test') RETURNING id::text",
    [body, body.length],
  );
  const letter = `m${rows[0]?.id ?? ''}`;
  await broker.alarm(true);
  try {
    const blocked = await runCmq(['dead', 'replay', letter, '--config-dir', p.dir]);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(
      'the broker did not confirm the message within 3 s (broker blocked publishing: low on memory); it may still arrive when the broker takes it',
    );
  } finally {
    await broker.alarm(false);
  }
  const again = await runCmq(['dead', 'replay', letter, '--config-dir', p.dir]);
  expect(again).toMatchObject({
    code: 0,
    stdout: `${letter} published again to cmq.actions with routing key control.noop.t1\n`,
  });
  const key = `amqp:dead-letter-${letter}`;
  await waitForActions(p.pool, { idempotencyKey: key, state: 'succeeded' }, 1, 30_000, 'the replayed action succeeded');
  // A fixed wait on purpose: the first attempt's copy, if it went out, arrives too (and must not
  // become a second action).
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await countActions(p.pool, { idempotencyKey: key })).toBe(1);
}, 120_000);

it('a subscriber that dead-letters messages while the broker blocks publishing goes on consuming (dead copies on their own connection, not waited for past amqp.connect_timeout); the copies go out when the alarm clears', async () => {
  const subscriber = p.processes[1];
  subscriber?.kill('SIGTERM');
  await subscriber?.exited;
  // Queued while no subscriber runs: two messages that are not JSON first, then 20 actions.
  const conn = await brokerConnection('/', broker.url);
  try {
    const ch = await conn.createConfirmChannel();
    for (let i = 0; i < 2; i += 1) ch.publish('cmq.actions', 'control.noop.t1', Buffer.from('not json'));
    await ch.waitForConfirms();
    const deadBefore = (await ch.checkQueue('cmq.dead')).messageCount;
    const ids = await p.submit(Array.from({ length: 20 }, () => ({ type: 'noop', tenant: 't1' })));
    await waitFor(
      async () => (await countActions(p.pool, { ids, state: 'queued' })) === 20,
      20_000,
      'the 20 actions queued',
    );

    await broker.alarm(true);
    try {
      // As many dead copies as prefetch: while each waited for its confirm, its delivery held a slot.
      const restarted = p.start('subscriber', [], { CMQ_SUBSCRIBER_PREFETCH: '2', CMQ_SUBSCRIBER_CONCURRENCY: '2' });
      await p.running('subscriber', 'default', restarted.pid);
      await waitFor(
        async () => (await countActions(p.pool, { ids, state: 'succeeded' })) === 20,
        30_000,
        'all 20 actions succeeded during the alarm',
      );
      const letters = await p.pool.query<{ reason: string }>(
        "SELECT reason FROM dead_letters WHERE body = 'not json'::bytea",
      );
      expect(letters.rows).toHaveLength(2);
    } finally {
      await broker.alarm(false);
    }
    await waitFor(
      async () => (await ch.checkQueue('cmq.dead')).messageCount === deadBefore + 2,
      20_000,
      'the dead copies in cmq.dead',
    );
  } finally {
    await conn.close();
  }
}, 120_000);

it('SIGTERM while the blocked broker leaves a batch unconfirmed: the publisher stops within shutdown.drain_timeout, exit 0, and its rows stay due; after the alarm, a new publisher relays them and each runs once', async () => {
  for (const proc of p.processes) proc.kill('SIGTERM');
  await Promise.all(p.processes.map((proc) => proc.exited));
  const log = join(p.logDir, 'publisher-main.log');
  // A confirm timeout far past the drain deadline: SIGTERM comes while the relay still waits on the batch.
  const env = { CMQ_PUBLISHER_RELAY_CONFIRM_TIMEOUT: '120s', CMQ_PUBLISHER_SHUTDOWN_DRAIN_TIMEOUT: '5s' };
  const publisher = p.start('publisher', [], env);
  await p.running('publisher', 'main', publisher.pid);

  await broker.alarm(true);
  let ids: string[] = [];
  try {
    ids = await p.submit(Array.from({ length: 20 }, () => ({ type: 'noop', tenant: 't1' })));
    // The batch went out: the broker blocked the connection for it, and the relay's transaction holds its rows.
    const blocked = (l: Record<string, unknown>): boolean =>
      Number(l.pid) === publisher.pid && l.waiting === 'broker blocked publishing: low on memory';
    await waitForLog(log, blocked, 30_000, 'the publisher blocked by the alarm');
    await waitFor(() => locked(ids), 10_000, 'the batch rows locked by the waiting relay');

    publisher.kill('SIGTERM');
    // exitCode fails if the process is still running after 5 s of drain timeout plus a margin.
    expect(await publisher.exitCode(20_000)).toBe(0);
    // The relay stopped waiting for the batch at once (its 20 confirms outstanding), not at the deadline.
    const mine = logLines(log).filter((l) => Number(l.pid) === publisher.pid);
    expect(
      mine.some(
        (l) =>
          (l.msg === 'relay cycle failed; retrying' || l.msg === 'relaying a family failed; the others go on') &&
          l.err ===
            'stopping with 20 of 20 actions not yet confirmed by the broker; the batch is rolled back and stays due',
      ),
    ).toBe(true);
    expect(mine.some((l) => l.msg === 'shutdown deadline passed: exiting now')).toBe(false);
    expect(mine.some((l) => l.msg === 'state stopped')).toBe(true); // drained (a forced exit skips it)
    expect(await locked(ids)).toBe(false);
    expect(await countActions(p.pool, { ids, state: 'pending' })).toBe(20);
  } finally {
    await broker.alarm(false);
  }

  const again = p.start('publisher');
  const subscriber = p.start('subscriber');
  await Promise.all([p.running('publisher', 'main', again.pid), p.running('subscriber', 'default', subscriber.pid)]);
  await p.allFinal(60_000, ids);
  expect(await stateCounts(p.pool, { ids })).toEqual({ succeeded: 20 });
  // Each ran once: one run per action.
  const runs = await listEvents(p.pool, { ids, to: 'running' });
  expect(runs).toHaveLength(20);
  expect(new Set(runs.map((e) => e.action_id)).size).toBe(20);
}, 120_000);
