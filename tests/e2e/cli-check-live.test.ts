import { hostname } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { writeConfig } from '../helpers/config-dir';
import { parseNagios } from '../helpers/nagios';
import { Pipeline } from '../helpers/pipeline';
import { freePort } from '../helpers/private-servers';
import { type Spawned, runCmq, spawnBin } from '../helpers/process';
import { TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait';

/**
 * `cmq check` with the real pinger: every family consumed (control by a subscriber of its own),
 * kill -9 that subscriber → CRITICAL naming control within three heartbeat intervals; restart it
 * → OK again; a process that loses its broker says so in its heartbeat, the pinger's summary,
 * `cmq check` and `cmq status`; so does one that waits for its broker or database at start
 * (its heartbeat says `starting`, and a subscriber that never connected consumes nothing). A
 * Redis database of its own: the summary and heartbeats are global names.
 */
const REDIS_DB = 12;
const HEARTBEAT_MS = 1_000;
let pipe: Pipeline;
let ctl: Spawned;
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
redis.on('error', () => undefined);

function startControlSubscriber(env: NodeJS.ProcessEnv = {}): Spawned {
  return pipe.start('subscriber', ['--instance', 'ctl'], env);
}

async function check(): Promise<{ code: number | null; word: string; text: string }> {
  const res = await runCmq(['check', '--config-dir', pipe.dir]);
  expect(res.stderr).toBe('');
  return { code: res.code, ...parseNagios(res.stdout) };
}

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': REDIS_DB },
      'subscriber.properties': { queues: 'provision,monitor,guest' },
      'pinger.properties': { 'pinger.interval': '1s', 'canary.timeout': '3s', 'check.summary_max_age': '3s' },
    },
  });
  const own = {
    'log.dir': pipe.logDir,
    'metrics.dir': join(pipe.dir, 'metrics'),
    'heartbeat.interval': `${HEARTBEAT_MS}ms`,
    'shutdown.drain_timeout': '5s',
  };
  writeConfig(
    {
      'subscriber-ctl.properties': { queues: 'control', ...own },
      'pinger-proxied.properties': { ...own, 'pinger.interval': '1s' },
      'publisher-nodb.properties': own,
    },
    pipe.dir,
  );
  await redis.connect();
  await redis.flushdb();
  pipe.start('publisher');
  pipe.start('subscriber');
  ctl = startControlSubscriber();
  pipe.processes.push(spawnBin('pinger', ['--config-dir', pipe.dir]));
  await Promise.all([
    pipe.running('publisher', 'main'),
    pipe.running('subscriber', 'default'),
    pipe.running('subscriber', 'ctl'),
    pipe.running('pinger', 'main'),
  ]);
}, 60_000);

afterAll(async () => {
  await pipe.destroy();
  redis.disconnect();
});

it('OK with everything running; kill -9 the only subscriber of a family → CRITICAL naming it within 3 heartbeat intervals; restarted → OK', async () => {
  // OK at once (canaries pending), then with every canary's latency known.
  let ok: Awaited<ReturnType<typeof check>> | undefined;
  await waitFor(
    async () => (ok = await check()).text.includes('canaries ok'),
    30_000,
    'cmq check OK with canary latencies',
  );
  expect(ok?.word).toBe('OK');
  expect(ok?.text).toMatch(/^live subscribers: provision 1, monitor 1, guest 1, control 1; canaries ok/);

  const heartbeat = (await redis.keys('cmq:heartbeat:subscriber:ctl:*')).find((k) => k.endsWith(`:${ctl.pid}`));
  expect(heartbeat).toBeDefined();
  ctl.kill('SIGKILL');
  const killed = Date.now();
  // The dead subscriber's heartbeat is gone within three intervals (timed on Redis itself: a
  // `cmq check` is a process start, too slow a clock on a loaded machine)...
  await waitFor(
    async () => (await redis.exists(heartbeat as string)) === 0,
    3 * HEARTBEAT_MS + 2_000,
    'the heartbeat of the killed subscriber to expire',
  );
  expect(Date.now() - killed).toBeLessThanOrEqual(3 * HEARTBEAT_MS + 1_000);
  // ...and from then on `cmq check` says so: it counts live subscribers from the heartbeats
  // themselves, so the first check after the expiry is CRITICAL.
  const critical = await check();
  expect(critical.text).toContain('no live subscriber consumes control');
  expect(critical).toMatchObject({ code: 2, word: 'CRITICAL' });
  // Nothing else is wrong, but a slow canary of another family may add a WARNING naming it.
  const warnings =
    /; canary (?:provision|monitor|guest) [\d.]+s \(warning [\d.]+s\)|; canary late on (?:provision|monitor|guest)/g;
  expect(critical.text.replace(warnings, '')).not.toMatch(/provision|monitor|guest/);

  ctl = startControlSubscriber();
  // The canary that waited while nobody consumed control may come back slow (WARNING); the next is quick.
  await waitFor(
    async () => {
      const again = await check();
      return again.code === 0 && again.text.includes('control 1; canaries ok');
    },
    30_000,
    'cmq check OK again',
  );
}, 60_000);

it('a process that lost its broker: its heartbeat, the pinger summary, cmq check (WARNING naming it) and cmq status say so, without the password', async () => {
  await waitFor(
    async () => (await redis.get('cmq:pinger:lease'))?.startsWith('pinger:main@') === true,
    10_000,
    'the main pinger to hold the lease',
  );
  const proxy = await TcpProxy.start(5672);
  // A standby pinger (the main one holds the lease): it touches no canary, only heartbeats.
  const proxied = pipe.start('pinger', ['--instance', 'proxied'], {
    CMQ_AMQP_URLS: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
  });
  await pipe.running('pinger', 'proxied', proxied.pid);
  await proxy.close();
  const label = `pinger proxied@${hostname()}`;
  const waiting = new RegExp(`^waiting for broker at amqp://127\\.0\\.0\\.1:${proxy.port} \\(.+\\)$`);
  const key = `cmq:heartbeat:pinger:proxied:${hostname()}:${proxied.pid}`;
  await waitFor(
    async () => waiting.test((await redis.hget(key, 'waiting')) ?? ''),
    10_000,
    'the heartbeat to say what the pinger waits for',
  );
  await waitFor(
    async () => {
      const summary = JSON.parse((await redis.get('cmq:pinger:summary')) ?? '{}') as {
        waiting?: Array<{ service: string; name: string; pid: number; waiting: string }>;
      };
      return (
        summary.waiting?.some(
          (w) => w.service === 'pinger' && w.name === 'proxied' && w.pid === proxied.pid && waiting.test(w.waiting),
        ) === true
      );
    },
    10_000,
    'the pinger summary to list the waiting pinger',
  );

  let last = { code: null as number | null, word: '', text: '' };
  await waitFor(
    async () => {
      last = await check();
      return last.code === 1 && last.text.startsWith(`${label}: `);
    },
    15_000,
    'cmq check WARNING naming the waiting pinger',
  );
  expect(last.word).toBe('WARNING');
  expect(last.text.slice(label.length + 2)).toMatch(waiting);

  const status = await runCmq(['status', '--config-dir', pipe.dir]);
  expect(status).toMatchObject({ code: 0, stderr: '' });
  expect(status.stdout).toMatch(
    new RegExp(
      `^WAITING \\(1 process\\)\nSERVICE\\s+NAME\\s+HOST\\s+PID\\s+STATUS\npinger\\s+proxied\\s+\\S+\\s+${proxied.pid}\\s+waiting for broker at amqp://127\\.0\\.0\\.1:${proxy.port} \\(`,
      'm',
    ),
  );
  const json = await runCmq(['status', '--json', '--config-dir', pipe.dir]);
  const processes = (
    JSON.parse(json.stdout) as { processes: Array<{ service: string; name: string; waiting: string }> }
  ).processes;
  expect(processes.find((p) => p.name === 'proxied')?.waiting).toMatch(waiting);
  expect(processes.filter((p) => p.name !== 'proxied').map((p) => [p.service, p.name, p.waiting])).toEqual([
    ['pinger', 'main', ''],
    ['publisher', 'main', ''],
    ['subscriber', 'ctl', ''],
    ['subscriber', 'default', ''],
  ]);
  for (const out of [last.text, status.stdout, json.stdout, JSON.stringify(await redis.hgetall(key))])
    expect(out).not.toContain('guest@');
}, 60_000);

it('processes waiting for their broker or database at start beat `starting` and say what they wait for; such a subscriber consumes nothing; a stop then is clean', async () => {
  ctl.kill('SIGTERM');
  expect(await ctl.exitCode()).toBe(0);
  const [mqPort, dbPort] = [await freePort(), await freePort()];
  const stuck = startControlSubscriber({ CMQ_AMQP_URLS: `amqp://guest:guest@127.0.0.1:${mqPort}` });
  const second = pipe.start('publisher', ['--instance', 'nodb'], { CMQ_DB_PORT: String(dbPort) });
  const beatOf = async (key: string): Promise<Record<string, string>> => redis.hgetall(key);
  const subKey = `cmq:heartbeat:subscriber:ctl:${hostname()}:${stuck.pid}`;
  const pubKey = `cmq:heartbeat:publisher:nodb:${hostname()}:${second.pid}`;
  const brokerWait = new RegExp(`^waiting for broker at amqp://127\\.0\\.0\\.1:${mqPort} \\(.+\\)$`);
  const dbWait = new RegExp(`^waiting for database at 127\\.0\\.0\\.1:${dbPort}/\\S+ \\(.+\\)$`);
  await waitFor(
    async () => brokerWait.test((await beatOf(subKey)).waiting ?? ''),
    15_000,
    "the starting subscriber's heartbeat to say it waits for its broker",
  );
  await waitFor(
    async () => dbWait.test((await beatOf(pubKey)).waiting ?? ''),
    15_000,
    "the starting publisher's heartbeat to say it waits for its database",
  );
  expect(await beatOf(subKey)).toMatchObject({ state: 'starting', queues: 'control' });
  expect((await beatOf(pubKey)).state).toBe('starting');

  // The only subscriber of control never connected: control has no live subscriber (CRITICAL),
  // and the check names what it waits for.
  let last = { code: null as number | null, word: '', text: '' };
  await waitFor(
    async () => {
      last = await check();
      // Both: a summary the pinger wrote between the two processes' first heartbeats names one.
      return (
        last.text.includes(`subscriber ctl@${hostname()}: waiting for broker at amqp://127.0.0.1:${mqPort} (`) &&
        last.text.includes(`publisher nodb@${hostname()}: waiting for database at`)
      );
    },
    15_000,
    'cmq check to name the starting subscriber and publisher',
  );
  expect(last).toMatchObject({ code: 2, word: 'CRITICAL' });
  expect(last.text).toMatch(/^no live subscriber consumes control \(1 subscriber starting\); /);
  expect(last.text).toContain(`publisher nodb@${hostname()}: waiting for database at 127.0.0.1:${dbPort}/`);
  // The pinger counts it out too (its summary, and so the perfdata and metrics).
  await waitFor(
    async () => {
      const summary = JSON.parse((await redis.get('cmq:pinger:summary')) ?? '{}') as {
        families?: Record<string, { consumers: number }>;
      };
      return summary.families?.control?.consumers === 0 && summary.families.monitor?.consumers === 1;
    },
    10_000,
    'the pinger summary to count no consumer of control',
  );

  const json = await runCmq(['status', '--json', '--config-dir', pipe.dir]);
  const processes = (
    JSON.parse(json.stdout) as {
      processes: Array<{ service: string; name: string; pid: number; state: string; waiting: string }>;
    }
  ).processes;
  expect(processes.find((p) => p.pid === stuck.pid)).toMatchObject({
    service: 'subscriber',
    name: 'ctl',
    state: 'starting',
  });
  expect(processes.find((p) => p.pid === second.pid)).toMatchObject({
    service: 'publisher',
    name: 'nodb',
    state: 'starting',
  });
  const status = await runCmq(['status', '--config-dir', pipe.dir]);
  expect(status.stdout).toMatch(new RegExp(`^subscriber\\s+ctl\\s+\\S+\\s+${stuck.pid}\\s+\\S+\\s+starting\\s`, 'm'));
  for (const out of [last.text, status.stdout, json.stdout, JSON.stringify(await beatOf(subKey))])
    expect(out).not.toContain('guest@');

  // Stopped while still starting: exit 0, and the heartbeat goes with it (not three intervals later).
  for (const p of [stuck, second]) p.kill('SIGTERM');
  expect(await stuck.exitCode()).toBe(0);
  expect(await second.exitCode()).toBe(0);
  expect(await redis.exists(subKey, pubKey)).toBe(0);
  ctl = startControlSubscriber();
  await pipe.running('subscriber', 'ctl', ctl.pid);
  // Control is consumed again (the canary that waited may come back slow, and the pinger of the
  // test before, if it ran, still waits for its broker: WARNINGs, not what this test is about).
  await waitFor(
    async () => {
      const res = await runCmq(['check', '--config-dir', pipe.dir]);
      const parsed = parseNagios(res.stdout);
      return (
        res.code !== 2 &&
        parsed.perf.subscribers_control?.value === '1' &&
        !parsed.text.includes('ctl@') &&
        !parsed.text.includes('nodb@')
      );
    },
    30_000,
    'cmq check to find control consumed again and name neither stopped process',
  );
}, 90_000);
