import { join } from 'node:path';
import type { ChannelModel } from 'amqplib';
import { actionRow, countActions, listEvents } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, logLines, runCmq, waitForLog } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait';

// A broker that is slow but not blocked by a resource alarm (no connection.blocked): it takes the
// relay's publishes but its confirms do not come within relay.confirm_timeout. The relay rolls the
// batch back (its rows stay due) and must publish nothing more while those confirms are still
// outstanding: otherwise every cycle would push one more copy of the same rows onto a broker that
// is already behind. It says so in its heartbeat while it waits, and after one more
// confirm_timeout it reopens the connection (what still waited for a confirm fails), so that a
// broker that never confirms cannot stop the relay for good. The publisher reaches the broker
// through a proxy that holds back everything the broker sends (confirms, and the handshake of a
// new connection) while passing on everything the publisher sends (publishes).

const N = 20;
const QUEUE = 'cmq.control'; // noop's family
let p: Pipeline;
let proxy: TcpProxy;
let publisher: Spawned;
let conn: ChannelModel;

beforeAll(async () => {
  p = await Pipeline.create({
    config: {
      // Heartbeats far apart: the publisher hears nothing from the broker while the proxy holds
      // it back, and must not take that for a dead connection (a reconnection settles confirms).
      'mq.cfg': { 'amqp.heartbeat': '120s' },
      'publisher.properties': { 'relay.confirm_timeout': '6s', 'relay.sweep_interval': '300ms' },
    },
  });
  await p.addTenants('t1');
  proxy = await TcpProxy.start(5672);
  publisher = p.start('publisher', [], { CMQ_AMQP_URLS: `amqp://guest:guest@127.0.0.1:${proxy.port}` });
  await p.running('publisher', 'main', publisher.pid);
  // The test's own look at the queue, straight to the broker.
  conn = await brokerConnection(p.vhost);
}, 60_000);

afterAll(async () => {
  await conn?.close().catch(() => undefined);
  await p?.destroy();
  await proxy?.close();
}, 60_000);

/** Messages the broker holds in the family queue (nobody consumes it until the end). */
async function depth(): Promise<number> {
  const ch = await conn.createChannel();
  try {
    return (await ch.checkQueue(QUEUE)).messageCount;
  } finally {
    await ch.close();
  }
}

/**
 * Resolves once the relay has begun a new cycle: an action due in an hour is made expired now,
 * and only a relay cycle (expireDue, which runs before the gate) ends it `expired`.
 */
async function relayCycle(): Promise<void> {
  const [probe] = await p.submit([{ type: 'noop', tenant: 't1', countdown: 3_600 }]);
  await p.pool.query('UPDATE actions SET expires_at = now() WHERE id = $1', [probe]);
  await waitFor(
    async () => (await actionRow(p.pool, probe as string)).state === 'expired',
    20_000,
    'a relay cycle to expire the probe action',
  );
}

it('a slow broker (confirms late, never blocked) gets one copy of an unconfirmed batch while its confirms are outstanding, not one per cycle; the wait is shown, and ended by reopening the connection; then every action runs once', async () => {
  const log = join(p.logDir, 'publisher-main.log');
  expect(await depth()).toBe(0);

  proxy.pauseDownstream();
  const ids = await p.submit(Array.from({ length: N }, () => ({ type: 'noop', tenant: 't1' })));
  // Not blocked (no "(broker blocked publishing: ...)" note): only slow.
  const timedOut = (l: Record<string, unknown>): boolean =>
    (l.msg === 'relay cycle failed; retrying' || l.msg === 'relaying a family failed; the others go on') &&
    String(l.err).includes(
      `the broker confirmed 0 of ${N} actions within relay.confirm_timeout (6000 ms); the batch is rolled back and stays due`,
    );
  await waitForLog(log, timedOut, 30_000, 'the relay giving up on the unconfirmed batch');
  // The broker took the batch (publishes go through), once.
  await waitFor(async () => (await depth()) >= N, 20_000, `the batch's ${N} messages in ${QUEUE}`);

  // The wait is shown (heartbeat `waiting`, so `cmq status` and `cmq check`) while it lasts (from the
  // timeout until the reopen a confirm_timeout later: read at once, before the relay cycles below)...
  const waiting = new RegExp(
    `^relay: the broker has not confirmed ${N} of ${N} actions of a cmq\\.control batch given up on at \\S+; relaying nothing to cmq\\.control until it does$`,
  );
  const reopened = (l: Record<string, unknown>): boolean =>
    l.msg === 'confirms of an abandoned batch still missing: reopening the broker connection';
  let shown = false;
  await waitFor(
    async () => {
      const status = JSON.parse((await runCmq(['status', '--json', '--config-dir', p.dir])).stdout) as {
        processes: Array<{ pid: number; waiting: string }>;
      };
      shown ||= status.processes.some((x) => x.pid === publisher.pid && waiting.test(x.waiting));
      return shown || logLines(log).some(reopened);
    },
    20_000,
    "the relay's wait in cmq status",
  );
  expect(shown).toBe(true);

  // Relay cycles since the timeout, while the gate holds; without it each would have published
  // the batch again (and timed out again), each copy reaching the broker before the next cycle
  // begins. (Once the connection is reopened, a new one cannot even be opened through the proxy.)
  for (let i = 0; i < 3; i += 1) await relayCycle();
  expect(await depth()).toBe(N);
  expect(logLines(log).filter(timedOut)).toHaveLength(1);
  expect(await p.states()).toEqual({ pending: N, expired: 3 });

  // The wait is ended: a confirm_timeout later the relay reopens the connection, whose close the
  // held-back broker does not answer either: its socket goes, and the confirms fail with it.
  await waitForLog(log, reopened, 20_000, 'the relay reopening the broker connection');
  await waitFor(() => Promise.resolve(proxy.accepted >= 2), 20_000, 'a new connection through the proxy');
  expect(await depth()).toBe(N);

  // The broker answers again: the new connection opens, and the relay publishes the batch again
  // (the one copy the rollback costs) and, confirmed this time, marks it queued.
  proxy.resumeDownstream();
  await waitFor(
    async () => (await countActions(p.pool, { ids, state: 'queued' })) === N,
    30_000,
    `the ${N} actions queued`,
  );
  expect(await depth()).toBe(2 * N);
  expect(logLines(log).filter(timedOut)).toHaveLength(1);
  expect(logLines(log).filter(reopened)).toHaveLength(1);

  // A subscriber runs each action once; the second copy of each is acked unrun.
  const subscriber = p.start('subscriber');
  await p.running('subscriber', 'default', subscriber.pid);
  await p.allFinal(60_000, ids);
  expect(await p.states()).toEqual({ succeeded: N, expired: 3 });
  // Each ran once: one run per action.
  const runs = await listEvents(p.pool, { ids, to: 'running' });
  expect(runs).toHaveLength(N);
  expect(new Set(runs.map((e) => e.action_id)).size).toBe(N);
  await waitFor(async () => (await depth()) === 0, 20_000, `${QUEUE} drained (the duplicates acked)`);
}, 120_000);
