import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type ControlReply, type RawRequest, controlMessage, pingWorkers, sendControl } from '@cmq/actions';
import { AmqpClient, Exchanges, StatusBoard, declareTopology, workerControlKey } from '@cmq/common';
import { loadMqConfig } from '@cmq/cli/src/broker';
import pino from 'pino';
import { listActions } from '../helpers/actions';
import { writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq, waitForLog } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

/**
 * Worker control over the broker (docs/worker-control.md): two real subscribers, `default` (A)
 * and `b` (B), driven by `cmq workers` and by the exported sendControl().
 */
let pipe: Pipeline;
let a: Spawned;
let b: Spawned;
let client: AmqpClient | undefined;
/** The test's own broker connection (made in beforeAll). */
function broker(): AmqpClient {
  if (client === undefined) throw new Error('no broker connection: beforeAll failed');
  return client;
}

const tenant = `wc-${randomBytes(3).toString('hex')}`;
const HOST = hostname();
const ACTOR = 'test:ops@console';
const REDIS_DB = 4;

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: {
      // Heartbeats of its own: `cmq workers` expects replies from every live heartbeat addressed,
      // and other test files' subscribers beat in the shared Redis' database 0.
      'persistence.properties': { 'redis.db': REDIS_DB },
      'subscriber.properties': { concurrency: 8, prefetch: 8 },
      'pinger.properties': {
        'pinger.interval': '1s',
        'canary.timeout': '5s',
        'check.summary_max_age': '5s',
        'canary.families': 'monitor',
      },
    },
  });
  // A second subscriber, `--instance b` (subscriber-b.properties: name b).
  writeConfig(
    {
      'subscriber-b.properties': {
        'log.dir': pipe.logDir,
        'metrics.dir': join(pipe.dir, 'metrics'),
        'heartbeat.interval': '1s',
        'shutdown.drain_timeout': '5s',
        concurrency: 8,
        prefetch: 8,
      },
    },
    pipe.dir,
  );
  await pipe.addTenants(tenant);
  pipe.start('publisher');
  pipe.start('pinger');
  a = pipe.start('subscriber');
  b = pipe.start('subscriber', ['--instance', 'b']);
  await Promise.all([pipe.running('subscriber', 'default', a.pid), pipe.running('subscriber', 'b', b.pid)]);
  client = new AmqpClient({
    config: loadMqConfig(pipe.dir, {}),
    connectionName: 'worker-control test',
    logger: pino({ level: 'silent' }),
    status: new StatusBoard(),
    setup: declareTopology,
  });
  await client.start(AbortSignal.timeout(10_000));
}, 60_000);

afterAll(async () => {
  // Whatever failed before, the processes started here must not outlive the file.
  await client?.close().catch(() => undefined);
  await pipe?.destroy();
});

const cmq = (...args: string[]) => runCmq([...args, '--config-dir', pipe.dir]);
const noops = (n: number, family: string, sleep_ms = 50): RawRequest[] =>
  Array.from({ length: n }, () => ({ type: 'noop', tenant, args: { sleep_ms, family } }));

/** Who ran each of `ids` (`default`, `b`), once all are final. */
async function runners(ids: string[]): Promise<Map<string, string>> {
  await pipe.allFinal(30_000, ids);
  const rows = await listActions(pipe.pool, { ids });
  expect(rows.map((r) => r.state)).toEqual(ids.map(() => 'succeeded'));
  return new Map(rows.map((r) => [r.id, /^subscriber:([^@]+)@/.exec(r.worker ?? '')?.[1] ?? '?']));
}

const names = (replies: readonly ControlReply[]) => replies.map((r) => `${r.identity.name}:${r.identity.pid}`).sort();

it('ping answers with the identity of every subscriber (API and `cmq workers ping --all`)', async () => {
  const { replies } = await pingWorkers(broker(), {}, { actor: ACTOR, timeoutMs: 10_000, expected: 2 });
  expect(names(replies)).toEqual([`b:${b.pid}`, `default:${a.pid}`]);
  expect(replies[0]?.identity).toMatchObject({ service: 'subscriber', host: HOST, state: 'running', paused: {} });

  const run = await cmq('workers', 'ping', '--all', '--json', '--timeout', '10');
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const fromCli = run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ControlReply);
  expect(names(fromCli)).toEqual([`b:${b.pid}`, `default:${a.pid}`]);
}, 30_000);

it('a malformed control message, or one addressed elsewhere, is ignored with a log line; the processes live on', async () => {
  const conn = await brokerConnection(pipe.vhost);
  const ch = await conn.createConfirmChannel();
  const key = workerControlKey('subscriber');
  ch.publish(Exchanges.control, key, Buffer.from('{not json'));
  ch.publish(Exchanges.control, key, Buffer.from(JSON.stringify({ v: 1, command: { command: 'explode' } })));
  const elsewhere = controlMessage({ name: 'nobody' }, { command: 'drain' }, ACTOR);
  ch.publish(Exchanges.control, key, Buffer.from(JSON.stringify(elsewhere)));
  await ch.waitForConfirms();
  await conn.close();
  for (const name of ['default', 'b']) {
    const log = join(pipe.logDir, `subscriber-${name}.log`);
    await waitForLog(
      log,
      (l) => /^control message ignored: control message is not JSON/.test(String(l.msg)),
      10_000,
      `${name}: not JSON`,
    );
    await waitForLog(
      log,
      (l) => /^control message ignored: control message: /.test(String(l.msg)),
      10_000,
      `${name}: bad shape`,
    );
    await waitForLog(
      log,
      (l) => l.msg === 'control message ignored: addressed to subscriber nobody',
      10_000,
      `${name}: elsewhere`,
    );
  }
  const { replies } = await pingWorkers(broker(), {}, { actor: ACTOR, timeoutMs: 10_000, expected: 2 });
  expect(replies).toHaveLength(2);
  expect(a.alive() && b.alive()).toBe(true);
}, 30_000);

it('pause control stops that family on B within a second while its other families go on; status and check say who; resume restarts it', async () => {
  const sentAt = Date.now();
  const paused = await sendControl(
    broker(),
    { name: 'b' },
    { command: 'pause', family: 'control' },
    { actor: ACTOR, expected: 1, timeoutMs: 10_000 },
  );
  expect(Date.now() - sentAt).toBeLessThan(1_000);
  expect(paused.replies.map((r) => [r.identity.pid, r.outcome])).toEqual([[b.pid, 'done']]);
  expect(paused.replies[0]?.identity.queues).toEqual(['provision', 'monitor', 'guest']);
  expect(paused.replies[0]?.identity.paused.control?.by).toBe(ACTOR);

  const control = await pipe.submit(noops(24, 'control'));
  const monitor = await pipe.submit(noops(24, 'monitor'));
  const [ranControl, ranMonitor] = await Promise.all([runners(control), runners(monitor)]);
  expect([...ranControl.values()].filter((w) => w !== 'default')).toEqual([]);
  expect([...ranMonitor.values()].filter((w) => w === 'b').length).toBeGreaterThan(0);

  // Heartbeat → `cmq check` (a WARNING naming who paused it and when), `cmq status`, `cmq workers
  // list`; a second pause changes nothing and says since when.
  const warning = new RegExp(`control paused on subscriber b@${HOST} by ${ACTOR} at \\d{4}-\\d\\d-\\d\\dT`);
  let check = { code: null as number | null, stdout: '' };
  const [, status, listed, again] = await Promise.all([
    waitFor(
      async () => {
        check = await cmq('check');
        return warning.test(check.stdout);
      },
      20_000,
      'cmq check naming the pause',
    ),
    cmq('status'),
    cmq('workers', 'list'),
    cmq('workers', 'pause', 'control', '--name', 'b', '--timeout', '10'),
  ]);
  expect(check.code).toBeGreaterThanOrEqual(1);
  expect(status.stdout).toMatch(/PAUSED \(1 family; cmq workers resume\)/);
  expect(status.stdout).toMatch(new RegExp(`subscriber +b +${HOST} +${b.pid} +control +${ACTOR}`));
  expect(listed.stdout).toMatch(
    new RegExp(`b +${HOST} +${b.pid} +running +provision,monitor,guest +control by ${ACTOR}`),
  );
  expect(again.stdout).toMatch(
    new RegExp(`subscriber b@${HOST}:${b.pid}: unchanged \\(control paused already, by ${ACTOR}`),
  );

  const resumed = await cmq('workers', 'resume', 'control', '--name', 'b', '--timeout', '10');
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toBe(
    `subscriber b@${HOST}:${b.pid}: done (control resumed (paused by ${ACTOR} at ${paused.replies[0]?.identity.paused.control?.at}))\n`,
  );
  const after = await runners(await pipe.submit(noops(24, 'control', 100)));
  expect([...after.values()].filter((w) => w === 'b').length).toBeGreaterThan(0);
  await waitFor(async () => !warning.test((await cmq('check')).stdout), 20_000, 'cmq check without the pause');

  const audit = await pipe.pool.query<{ action: string; actor: string; outcome: string }>(
    "SELECT action, actor, outcome FROM audit_log WHERE action LIKE 'workers.%' ORDER BY id",
  );
  expect(audit.rows.map((r) => [r.action, r.outcome])).toEqual([
    ['workers.pause', 'ok'],
    ['workers.resume', 'ok'],
  ]);
  expect(audit.rows[0]?.actor).toMatch(/^cli:.+@/);
}, 90_000);

it('drain addressed to A of two: A finishes its in-flight work and exits 0, nothing lost, B goes on', async () => {
  const ids = await pipe.submit(noops(40, 'control', 400));
  await waitFor(
    async () =>
      (await listActions(pipe.pool, { ids })).some(
        (r) => r.state === 'running' && /^subscriber:default@/.test(r.worker ?? ''),
      ),
    20_000,
    'A running some',
  );
  const run = await cmq('workers', 'drain', '--name', 'default', '--timeout', '10');
  expect(run.stdout).toBe(
    `subscriber default@${HOST}:${a.pid}: done (draining: finishing in-flight work, then exit 0)\n`,
  );
  expect(run.code).toBe(0);
  expect(await a.exitCode(15_000)).toBe(0);
  await waitForLog(
    join(pipe.logDir, 'subscriber-default.log'),
    (l) =>
      Number(l.pid) === a.pid && l.msg === 'stopping' && String(l.reason).startsWith('worker control: drain from cli:'),
    5_000,
    'A stopping by worker control',
  );
  const ran = await runners(ids);
  expect([...ran.values()].filter((w) => w === 'b').length).toBeGreaterThan(0);
  expect(b.alive()).toBe(true);
  const { replies } = await pingWorkers(broker(), {}, { actor: ACTOR, timeoutMs: 10_000, expected: 1 });
  expect(names(replies)).toEqual([`b:${b.pid}`]);
}, 60_000);
