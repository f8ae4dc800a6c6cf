import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Pipeline } from '../helpers/pipeline';
import type { Spawned } from '../helpers/process';
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

async function runningBy(): Promise<Map<string, string[]>> {
  const { rows } = await pipe.pool.query<{ worker: string; ids: string[] }>(
    "SELECT worker, array_agg(id::text ORDER BY id) AS ids FROM actions WHERE state = 'running' GROUP BY worker",
  );
  return new Map(rows.map((r) => [r.worker, r.ids]));
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
  const { rows } = await pipe.pool.query<{ id: string; worker: string }>(
    'SELECT id::text, worker FROM actions WHERE id = ANY($1::bigint[])',
    [victimIds],
  );
  for (const r of rows) expect(r.worker).toMatch(new RegExp(`:${survivor.pid}$`));
  const reaps = await pipe.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM action_events WHERE action_id = ANY($1::bigint[]) AND from_state = 'running' AND to_state = 'pending' AND reason = $2",
    [victimIds, `reaped: worker ${victimLabel} stopped heartbeating`],
  );
  expect(reaps.rows[0]?.n).toBe(victimIds.length);
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
  await new Promise((r) => setTimeout(r, 2_000));
  const events = await pipe.pool.query<{ action_id: string; succeeded: number; reaped: number }>(
    `SELECT action_id::text, count(*) FILTER (WHERE to_state = 'succeeded')::int AS succeeded,
       count(*) FILTER (WHERE reason LIKE 'reaped: worker %')::int AS reaped
     FROM action_events WHERE action_id = ANY($1::bigint[]) GROUP BY action_id ORDER BY action_id`,
    [ids],
  );
  for (const e of events.rows) {
    expect({ id: e.action_id, succeeded: e.succeeded, reaped: e.reaped }).toEqual({
      id: e.action_id,
      succeeded: 1,
      reaped: victimIds.includes(e.action_id) ? 1 : 0,
    });
  }
  expect(await pipe.states()).toEqual({ succeeded: 8 });
  const final = await pipe.pool.query<{ id: string; worker: string }>(
    'SELECT id::text, worker FROM actions WHERE id = ANY($1::bigint[])',
    [victimIds],
  );
  for (const r of final.rows) expect(r.worker).toMatch(new RegExp(`:${survivor.pid}$`));
  expect(victim.alive()).toBe(true);
}, 60_000);
