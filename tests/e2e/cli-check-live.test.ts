import { join } from 'node:path';
import { Redis } from 'ioredis';
import { writeConfig } from '../helpers/config-dir';
import { parseNagios } from '../helpers/nagios';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq, spawnBin } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/**
 * `cmq check` with the real pinger: every family consumed (control by a subscriber of its own),
 * kill -9 that subscriber → CRITICAL naming control within three heartbeat intervals; restart it
 * → OK again. A Redis database of its own: the summary and heartbeats are global names.
 */
const REDIS_DB = 12;
const HEARTBEAT_MS = 1_000;
let pipe: Pipeline;
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
redis.on('error', () => undefined);

function startControlSubscriber(): Spawned {
  return pipe.start('subscriber', ['--instance', 'ctl']);
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
  writeConfig({ 'subscriber-ctl.properties': { queues: 'control', 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': `${HEARTBEAT_MS}ms`, 'shutdown.drain_timeout': '5s' } }, pipe.dir);
  await redis.connect();
  await redis.flushdb();
});

afterAll(async () => {
  await pipe.destroy();
  redis.disconnect();
});

it('OK with everything running; kill -9 the only subscriber of a family → CRITICAL naming it within 3 heartbeat intervals; restarted → OK', async () => {
  pipe.start('publisher');
  pipe.start('subscriber');
  const ctl = startControlSubscriber();
  pipe.processes.push(spawnBin('pinger', ['--config-dir', pipe.dir]));
  await Promise.all([pipe.running('publisher', 'main'), pipe.running('subscriber', 'default'), pipe.running('subscriber', 'ctl'), pipe.running('pinger', 'main')]);

  // OK at once (canaries pending), then with every canary's latency known.
  await waitFor(async () => (await check()).text.includes('canaries ok'), 30_000, 'cmq check OK with canary latencies');
  const ok = await check();
  expect(ok.word).toBe('OK');
  expect(ok.text).toMatch(/^live subscribers: provision 1, monitor 1, guest 1, control 1; canaries ok/);

  const heartbeat = (await redis.keys('cmq:heartbeat:subscriber:ctl:*')).find((k) => k.endsWith(`:${ctl.pid}`));
  expect(heartbeat).toBeDefined();
  ctl.kill('SIGKILL');
  const killed = Date.now();
  // The dead subscriber's heartbeat is gone within three intervals (timed on Redis itself: a
  // `cmq check` is a process start, too slow a clock on a loaded machine)...
  await waitFor(async () => (await redis.exists(heartbeat as string)) === 0, 3 * HEARTBEAT_MS + 2_000, 'the heartbeat of the killed subscriber to expire');
  expect(Date.now() - killed).toBeLessThanOrEqual(3 * HEARTBEAT_MS + 1_000);
  // ...and from then on `cmq check` says so: it counts live subscribers from the heartbeats
  // themselves, so the first check after the expiry is CRITICAL.
  const critical = await check();
  expect(critical.text).toContain('no live subscriber consumes control');
  expect(critical).toMatchObject({ code: 2, word: 'CRITICAL' });
  expect(critical.text).not.toMatch(/provision|monitor|guest/);

  startControlSubscriber();
  // The canary that waited while nobody consumed control may come back slow (WARNING); the next is quick.
  await waitFor(async () => {
    const again = await check();
    return again.code === 0 && again.text.includes('control 1; canaries ok');
  }, 30_000, 'cmq check OK again');
}, 60_000);
