import { listDead, replayAllDead } from '@cmq/actions';
import type { ConsumeMessage } from 'amqplib';
import { join } from 'node:path';
import { type ActionEvent, actionEvents, actionRow, countActions, listActions, stateHistory } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { logLines, waitForLog } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
let expiring: string[];

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: { 'subscriber.properties': { 'retry.initial_delay': '300ms', max_body_bytes: 4096 } },
  });
  await pipe.addTenants('t1');
  // Expired before anything runs: the services start after its expiry.
  expiring = await pipe.submit([{ type: 'noop', tenant: 't1', expires: new Date(Date.now() - 1_000).toISOString() }]);
  await pipe.startPublisherAndSubscriber();
});

afterAll(async () => {
  if (!process.env.KEEP) await pipe.destroy();
});

it('an expired action never runs', async () => {
  await pipe.allFinal(20_000, expiring);
  const r = await actionRow(pipe.pool, expiring[0] as string);
  expect(r).toMatchObject({ state: 'expired', attempts: 0 });
  expect(await stateHistory(pipe.pool, expiring[0] as string)).toEqual(['pending', 'expired']);
});

it('a transient failure is retried with backoff and succeeds on the third attempt', async () => {
  const [id] = await pipe.submit([{ type: 'noop', tenant: 't1', args: { fail_times: 2 } }]);
  await pipe.allFinal(30_000, [id as string]);
  expect(await actionRow(pipe.pool, id as string)).toMatchObject({ state: 'succeeded', attempts: 3 });
  const ev = await actionEvents(pipe.pool, id as string);
  expect(ev.map((e) => e.to_state)).toEqual([
    'pending',
    'queued',
    'running',
    'retrying',
    'queued',
    'running',
    'retrying',
    'queued',
    'running',
    'succeeded',
  ]);
  const gap = (i: number): number => (ev[i + 2] as ActionEvent).at.getTime() - (ev[i] as ActionEvent).at.getTime();
  // retrying → (queued) → running: at least the jittered backoff (300 ms, then 600 ms, -20 %).
  expect(gap(3)).toBeGreaterThanOrEqual(240);
  expect(gap(6)).toBeGreaterThanOrEqual(480);
  expect(ev[3]?.reason).toContain('noop failing on purpose (attempt 1');
});

it('a permanent failure ends dead at once; replay runs it again', async () => {
  const [id] = await pipe.submit([{ type: 'noop', tenant: 't1', args: { fail: 'permanent' } }]);
  await pipe.allFinal(20_000, [id as string]);
  expect(await actionRow(pipe.pool, id as string)).toMatchObject({
    state: 'dead',
    attempts: 1,
    error: 'noop failing permanently on purpose',
  });
  expect(await replayAllDead(pipe.pool, 't1', 'test')).toBe(1);
  await waitFor(
    async () => (await stateHistory(pipe.pool, id as string)).filter((s) => s === 'dead').length === 2,
    20_000,
    'a second run ending dead',
  );
  expect(await stateHistory(pipe.pool, id as string)).toEqual([
    'pending',
    'queued',
    'running',
    'dead',
    'pending',
    'queued',
    'running',
    'dead',
  ]);
});

it('a countdown action does not run early', async () => {
  const [id] = await pipe.submit([{ type: 'noop', tenant: 't1', countdown: 2 }]);
  await pipe.allFinal(20_000, [id as string]);
  const r = await actionRow(pipe.pool, id as string);
  expect(r.state).toBe('succeeded');
  expect((r.started_at as Date).getTime() - r.created_at.getTime()).toBeGreaterThanOrEqual(2_000);
});

it('malformed messages published straight onto cmq.actions are dead-lettered with a reason each; good work goes on', async () => {
  const conn = await brokerConnection(pipe.vhost);
  const ch = await conn.createConfirmChannel();
  const copies: ConsumeMessage[] = [];
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'cmq.dead', '');
  await ch.consume(queue, (m) => m && copies.push(m), { noAck: true });
  const send = (key: string, body: string | Buffer): void => {
    ch.publish('cmq.actions', key, Buffer.isBuffer(body) ? body : Buffer.from(body));
  };
  const good = pipe.submit(Array.from({ length: 50 }, () => ({ type: 'noop', tenant: 't1', args: { sleep_ms: 20 } })));
  send('control.noop.t1', 'not json {');
  send('control.frobnicate.t1', JSON.stringify({ tenant: 't1', type: 'frobnicate', args: {} }));
  send('control.noop.t1', JSON.stringify({ tenant: 't1', type: 'noop', args: { sleep_ms: 'slow' } }));
  send('control.noop.t1', Buffer.alloc(10_000, 'x'));
  send('control.noop.ghost', JSON.stringify({ tenant: 'ghost', type: 'noop', args: {} }));
  send('control.noop.t1', JSON.stringify({ id: '999999', tenant: 't1', type: 'noop', args: {} }));
  // 19 digits past bigint: one such id would fail every claim batch it joined.
  send('control.noop.t1', JSON.stringify({ id: '9999999999999999999', tenant: 't1', type: 'noop', args: {} }));
  // What PostgreSQL cannot store (a NUL character, half a surrogate pair) in the arguments, the
  // tenant, the routing key: refused with the field named, never a database error retried forever.
  send(
    'guest.guest.exec.t1',
    JSON.stringify({ tenant: 't1', type: 'guest.exec', args: { guest: 'web1', command: 'echo a\u0000b' } }),
  );
  send(
    'guest.guest.exec.t1',
    JSON.stringify({ tenant: 't1', type: 'guest.exec', args: { guest: 'web1', command: 'echo \ud800' } }),
  );
  send('control.noop.t1', JSON.stringify({ tenant: 't1\u0000', type: 'noop', args: {} }));
  send('control.noop.t1\u0000', 'not json either');
  // A request whose AMQP messageId (its idempotency key) PostgreSQL cannot store.
  ch.publish('cmq.actions', 'control.noop.t1', Buffer.from(JSON.stringify({ tenant: 't1', type: 'noop', args: {} })), {
    messageId: 'm\u0000',
  });
  // A numeric id past 2^53 has lost digits in JSON.parse: refused, never read as another action's id.
  send('control.noop.t1', '{"id":9007199254740993,"tenant":"t1","type":"noop","args":{}}');
  await ch.waitForConfirms();
  const goodIds = await good;
  await pipe.allFinal(30_000, goodIds);
  expect(await countActions(pipe.pool, { ids: goodIds, state: 'succeeded' })).toBe(50);

  await waitFor(() => copies.length >= 13, 20_000, 'thirteen dead copies');
  const reasons = copies.map((m) => String(m.properties.headers?.['x-cmq-reason']));
  const expected = [
    /^body is not JSON/,
    /^unknown action type "frobnicate"/,
    /^args\.sleep_ms: /,
    /^body of 10000 bytes is over the 4096-byte limit/,
    /^tenant: unknown tenant "ghost"/,
    /^no action with id 999999$/,
    /^id: "9999999999999999999" is not an action id$/,
    /^args\.command: contains U\+0000 \(NUL\), which cannot be stored$/,
    /^args\.command: contains U\+D800, half a UTF-16 surrogate pair \(not Unicode text\), which cannot be stored$/,
    /^tenant: contains U\+0000 \(NUL\), which cannot be stored$/,
    /^messageId \(the idempotency key of a request published straight onto the broker\): contains U\+0000 \(NUL\), which cannot be stored$/,
    /^id: 9007199254740992 is not an action id$/,
  ];
  for (const re of expected) expect(reasons.some((r) => re.test(r))).toBe(true);
  expect(copies.every((m) => typeof m.properties.headers?.['x-cmq-routing-key'] === 'string')).toBe(true);

  const dead = await listDead(pipe.pool, { limit: 100 });
  for (const re of expected) expect(dead.some((d) => d.id.startsWith('m') && re.test(d.reason))).toBe(true);
  expect(dead.find((d) => d.reason.startsWith('no action'))?.tenant).toBe('t1');
  // The routing key with a NUL is kept, the NUL written as \u0000.
  expect(dead.some((d) => d.routing_key === 'control.noop.t1\\u0000' && /^body is not JSON/.test(d.reason))).toBe(true);
  expect(await countActions(pipe.pool, { type: 'guest.exec' })).toBe(0);
  expect(pipe.processes.every((p) => p.alive())).toBe(true);
  await conn.close();
});

it('an outcome PostgreSQL refuses ends the action dead with the refusal; the outcomes batched with it commit', async () => {
  // A real refusal, by the database: a trigger (in this test's own database) rejects one row's
  // move to succeeded with a data exception, whatever the batch it comes in.
  await pipe.pool.query(`CREATE FUNCTION refuse_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'test refuses this outcome' USING ERRCODE = '22023'; END $$`);
  await pipe.pool.query(`CREATE TRIGGER refuse_outcome BEFORE UPDATE ON actions FOR EACH ROW
    WHEN (NEW.idempotency_key = 'refused-outcome' AND NEW.state = 'succeeded') EXECUTE FUNCTION refuse_outcome()`);
  const log = join(pipe.logDir, 'subscriber-default.log');
  const retriesBefore = logLines(log).filter((l) => l.msg === 'database step failed; retrying').length;
  try {
    // Finishing together (same sleep, submitted together): their outcomes share commit batches.
    const ids = await pipe.submit(
      Array.from({ length: 40 }, (_, i) => ({
        type: 'noop',
        tenant: 't1',
        args: { sleep_ms: 300 },
        ...(i === 20 ? { idempotency_key: 'refused-outcome' } : {}),
      })),
    );
    const refused = ids[20] as string;
    await pipe.allFinal(30_000, ids);
    const others = await listActions(pipe.pool, { ids: ids.filter((id) => id !== refused) });
    expect(others.filter((a) => a.state === 'succeeded' && a.attempts === 1)).toHaveLength(39);
    const r = await actionRow(pipe.pool, refused);
    expect(r).toMatchObject({ state: 'dead', attempts: 1 });
    expect(r.error).toBe(
      'its outcome (succeeded) could not be stored, PostgreSQL refused it: test refuses this outcome',
    );
    expect(await stateHistory(pipe.pool, refused)).toEqual(['pending', 'queued', 'running', 'dead']);
    expect((await listDead(pipe.pool, { limit: 100 })).some((d) => d.id === refused)).toBe(true);
    expect(pipe.processes.every((p) => p.alive())).toBe(true);
    // The subscriber's log is written asynchronously: wait for the line rather than race it.
    await waitForLog(
      log,
      (l) => l.msg === 'outcome could not be stored; the action ends dead' && l.action === refused,
      10_000,
      'the refused outcome logged',
    );
    // The refused batch was taken apart at once: no outcome went round the retry loop.
    expect(logLines(log).filter((l) => l.msg === 'database step failed; retrying').length).toBe(retriesBefore);
  } finally {
    await pipe.pool.query('DROP TRIGGER refuse_outcome ON actions; DROP FUNCTION refuse_outcome()');
  }
});

it('a claim PostgreSQL refuses is dead-lettered naming the action; the claims batched with it run', async () => {
  await pipe.pool.query(`CREATE FUNCTION refuse_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'test refuses this claim' USING ERRCODE = '23514'; END $$`);
  await pipe.pool.query(`CREATE TRIGGER refuse_claim BEFORE UPDATE ON actions FOR EACH ROW
    WHEN (NEW.idempotency_key = 'refused-claim' AND NEW.state = 'running') EXECUTE FUNCTION refuse_claim()`);
  try {
    const ids = await pipe.submit(
      Array.from({ length: 20 }, (_, i) => ({
        type: 'noop',
        tenant: 't1',
        ...(i === 7 ? { idempotency_key: 'refused-claim' } : {}),
      })),
    );
    const refused = ids[7] as string;
    await pipe.allFinal(
      30_000,
      ids.filter((id) => id !== refused),
    );
    await waitFor(
      async () =>
        (await listDead(pipe.pool, { limit: 100 })).some(
          (d) => d.reason === `its claim of action ${refused} was refused by PostgreSQL: test refuses this claim`,
        ),
      15_000,
      'the refused claim dead-lettered',
    );
    expect((await actionRow(pipe.pool, refused)).state).toBe('queued');
    expect(pipe.processes.every((p) => p.alive())).toBe(true);
  } finally {
    await pipe.pool.query('DROP TRIGGER refuse_claim ON actions; DROP FUNCTION refuse_claim()');
  }
});

it("an action whose message is over the subscriber's max_body_bytes ends dead with the reason; a stranger's look-alike ends nothing", async () => {
  // Intake takes arguments up to 128 KB; this suite's subscriber reads bodies up to 4,096 bytes.
  const [id = ''] = await pipe.submit([
    { type: 'guest.exec', tenant: 't1', args: { guest: 'web1', command: `echo ${'x'.repeat(5_000)}` } },
  ]);
  await pipe.allFinal(30_000, [id]);
  const r = await actionRow(pipe.pool, id);
  expect(r.state).toBe('dead');
  expect(r.error).toMatch(/^body of \d+ bytes is over the 4096-byte limit \(subscriber max_body_bytes\)$/);
  expect(await stateHistory(pipe.pool, id)).toEqual(['pending', 'queued', 'dead']);

  // An oversize message from someone else whose messageId names a waiting action, with another
  // routing key: a dead letter, and the action is left alone.
  const [waiting = ''] = await pipe.submit([{ type: 'noop', tenant: 't1', countdown: 3600 }]);
  const conn = await brokerConnection(pipe.vhost);
  const ch = await conn.createConfirmChannel();
  ch.publish('cmq.actions', 'control.ping.t1', Buffer.alloc(5_000, 'y'), { messageId: waiting });
  await ch.waitForConfirms();
  await conn.close();
  await waitFor(
    async () =>
      (await listDead(pipe.pool, { limit: 100 })).some(
        (d) => d.id.startsWith('m') && d.routing_key === 'control.ping.t1' && d.reason.startsWith('body of 5000 bytes'),
      ),
    15_000,
    'the look-alike dead-lettered',
  );
  expect((await actionRow(pipe.pool, waiting)).state).toBe('pending');
});
