import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { listActions, listEvents } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, logLines } from '../helpers/process';
import { waitFor } from '../helpers/wait';

// A Redis database of its own (heartbeats and the pinger lease are global names).
const REDIS_DB = 10;

let pipe: Pipeline;
const tenant = `reap-${randomBytes(3).toString('hex')}`;
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
redis.on('error', () => undefined);
let frozen: Spawned | undefined;

beforeAll(async () => {
  // prefetch = concurrency = 4, and 8 actions: each subscriber's window is full with its own
  // four, so the broker cannot hand the reaped actions' new messages to the frozen one.
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': REDIS_DB },
      'subscriber.properties': { concurrency: 4, prefetch: 4 },
      'pinger.properties': { 'pinger.interval': '1s', 'canary.families': '' },
    },
  });
  await pipe.addTenants(tenant);
  await redis.connect();
  await redis.del('cmq:pinger:summary', 'cmq:pinger:lease', `cmq:noop:runs:${tenant}`);
});

afterAll(async () => {
  frozen?.kill('SIGCONT');
  await pipe.destroy();
  redis.disconnect();
});

/** Running actions' ids, by the worker that runs them. */
async function runningBy(): Promise<Map<string, string[]>> {
  const by = new Map<string, string[]>();
  for (const a of await listActions(pipe.pool, { state: 'running' }))
    by.set(a.worker ?? '', [...(by.get(a.worker ?? '') ?? []), a.id]);
  return by;
}

it('SIGSTOP a subscriber holding running actions: the pinger reaps them once its heartbeat expires, the other reruns them; after SIGCONT its late commits change nothing', async () => {
  pipe.start('publisher');
  const a = pipe.start('subscriber', [], { CMQ_SUBSCRIBER_NAME: 'a' });
  const b = pipe.start('subscriber', [], { CMQ_SUBSCRIBER_NAME: 'b' });
  pipe.start('pinger');
  await Promise.all([
    pipe.running('publisher', 'main'),
    pipe.running('subscriber', 'a'),
    pipe.running('subscriber', 'b'),
    pipe.running('pinger', 'main'),
  ]);

  const ids = await pipe.submit(
    Array.from({ length: 8 }, () => ({ type: 'noop', tenant, args: { sleep_ms: 3_000, count: true } })),
  );
  await waitFor(async () => [...(await runningBy()).values()].flat().length === 8, 15_000, '8 actions running');
  const [victimLabel, victimIds] = [...(await runningBy()).entries()][0] as [string, string[]];
  const victim = [a, b].find((p) => victimLabel.endsWith(`:${p.pid}`)) as Spawned;
  const survivor = victim === a ? b : a;
  frozen = victim;
  victim.kill('SIGSTOP');
  const stoppedAt = Date.now();

  // Its heartbeat expires (3 × 1 s), the pinger waits one more interval, reaps; the survivor reruns.
  await pipe.allFinal(30_000, ids);
  const reapedAfter = Date.now() - stoppedAt;
  expect(await pipe.states()).toEqual({ succeeded: 8 });
  const rerun = await listActions(pipe.pool, { ids: victimIds });
  expect(rerun).toHaveLength(victimIds.length);
  for (const r of rerun) expect(r.worker).toMatch(new RegExp(`:${survivor.pid}$`));
  const reaps = (await listEvents(pipe.pool, { ids: victimIds, from: 'running', to: 'pending' })).filter(
    (e) => e.reason === `reaped: worker ${victimLabel} stopped heartbeating`,
  );
  expect(reaps).toHaveLength(victimIds.length);
  expect(reapedAfter).toBeGreaterThan(3_000);
  const history = await pipe.pool.query<{ n: number }>(
    "SELECT coalesce(sum((summary->>'reaped_last_interval')::int), 0)::int AS n FROM pinger_history",
  );
  expect(history.rows[0]?.n).toBe(victimIds.length);

  // SIGCONT: the frozen worker's handlers finish (each action's run counter reaches 2) and it
  // tries to commit; the fenced commit refuses, so each action keeps one `succeeded`.
  victim.kill('SIGCONT');
  frozen = undefined;
  await waitFor(
    async () => {
      const runs = await redis.hgetall(`cmq:noop:runs:${tenant}`);
      return victimIds.every((id) => runs[id] === '2');
    },
    15_000,
    'the frozen worker finishing its runs',
  );
  // Each late commit is refused by the fence, and the frozen worker says so in its log with the
  // action, the attempt and the reaper's reason: the operator sees both sides.
  const victimLog = join(pipe.logDir, `subscriber-${victim === a ? 'a' : 'b'}.log`);
  const refusals = (): Array<Record<string, unknown>> =>
    logLines(victimLog).filter((l) => String(l.msg).startsWith('late commit refused by the fence'));
  await waitFor(() => refusals().length >= victimIds.length, 15_000, 'the late commits refused and logged');
  expect(
    refusals()
      .map((l) => ({ level: l.level, action: l.action, attempt: l.attempt, reason: l.reason, state: l.state }))
      .sort((x, y) => Number(x.action) - Number(y.action)),
  ).toEqual(
    [...victimIds]
      .sort((x, y) => Number(x) - Number(y))
      .map((id) => ({
        level: 'warn',
        action: id,
        attempt: 1,
        reason: `reaped: worker ${victimLabel} stopped heartbeating`,
        state: 'succeeded',
      })),
  );
  const events = await listEvents(pipe.pool, { ids });
  for (const id of ids) {
    const mine = events.filter((e) => e.action_id === id);
    expect({
      id,
      succeeded: mine.filter((e) => e.to_state === 'succeeded').length,
      reaped: mine.filter((e) => e.reason?.startsWith('reaped: worker ')).length,
    }).toEqual({ id, succeeded: 1, reaped: victimIds.includes(id) ? 1 : 0 });
  }
  expect(await pipe.states()).toEqual({ succeeded: 8 });
  const final = await listActions(pipe.pool, { ids: victimIds });
  expect(final).toHaveLength(victimIds.length);
  for (const r of final) expect(r.worker).toMatch(new RegExp(`:${survivor.pid}$`));
  expect(victim.alive()).toBe(true);
}, 60_000);
