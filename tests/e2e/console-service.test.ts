import { request } from 'node:http';
import { freePort } from '../helpers/private-servers';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, createApiToken } from '@cmq/actions';
import { writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq, spawnBin, waitForLog } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/**
 * cmq-console's lifecycle, like the other services': refuses bad configuration with exit 78
 * before any connection, heartbeats, reopens its log on SIGHUP, and on SIGTERM ends its live
 * streams, closes the server and exits 0.
 */
let pipe: Pipeline;
let token: string;

function consoleConfig(extra: Record<string, string | number>): void {
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': '1s' };
  writeConfig({ 'console.properties': { ...own, ...extra } }, pipe.dir);
}

/** The ids of the first `n` events a console's live stream sends after event id `after`. */
function streamIds(port: number, after: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ids: string[] = [];
    const req = request(
      { host: '127.0.0.1', port, path: `/api/live?after=${after}`, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const m of chunk.matchAll(/^id: (\d+)$/gm)) ids.push(m[1] as string);
          if (ids.length >= n) {
            req.destroy();
            resolve(ids.slice(0, n));
          }
        });
      },
    );
    req.on('error', (err) => (ids.length >= n ? undefined : reject(err)));
    req.end();
  });
}

/** Opens GET /api/live and resolves with the response once its headers came; `ended` resolves when it ends. */
function openStream(port: number): Promise<{ status: number; type: string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/api/live', headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const ended = new Promise<void>((done) => res.on('end', () => done()).on('close', () => done()));
        res.resume();
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), ended });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  pipe = await Pipeline.create({ config: { 'persistence.properties': { 'redis.db': 12 } } });
  await addUser(pipe.pool, { name: 'ops', role: 'viewer', tenant: null, password: 'a long enough password' });
  token = await createApiToken(pipe.pool, 'ops');
}, 60_000);

afterAll(async () => {
  await pipe?.destroy();
});

it('exits 78 naming the key on bad configuration, before any connection', async () => {
  consoleConfig({ 'console.listen': 'localhost', 'console.tls.cert': '/nonexistent/cert.pem' });
  const proc = spawnBin('console', ['--config-dir', pipe.dir]);
  expect(await proc.exitCode()).toBe(78);
  expect(proc.stderr).toContain('console.listen');
  expect(proc.stderr).toContain('console.tls');
  expect(existsSync(join(pipe.logDir, 'console-main.log'))).toBe(false);
});

it('two consoles send the same live events, in the same order, from PostgreSQL', async () => {
  const ports = [await freePort(), await freePort()];
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': '1s' };
  const procs = ports.map((port, i) => {
    const values = { ...own, 'console.listen': `127.0.0.1:${port}`, 'console.live.poll_interval': '100ms' };
    writeConfig({ [`console-c${i}.properties`]: values }, pipe.dir);
    const proc = spawnBin('console', ['--config-dir', pipe.dir, '--instance', `c${i}`]);
    pipe.processes.push(proc);
    return proc;
  });
  await Promise.all([pipe.running('console', 'c0'), pipe.running('console', 'c1')]);
  const { rows } = await pipe.pool.query<{ last: string }>(
    'SELECT coalesce(max(id), 0)::text AS last FROM action_events',
  );
  const after = rows[0]?.last ?? '0';
  const streams = ports.map((port) => streamIds(port, after, 30));
  await pipe.addTenants('t2c');
  for (let i = 0; i < 3; i += 1) await pipe.submit(Array.from({ length: 10 }, () => ({ type: 'noop', tenant: 't2c' })));
  const [a, b] = await Promise.all(streams);
  expect(a).toHaveLength(30);
  expect(b).toEqual(a);
  for (const p of procs) p.kill('SIGTERM');
  expect(await Promise.all(procs.map((p) => p.exitCode(15_000)))).toEqual([0, 0]);
});

it('serves, heartbeats, reopens its log on SIGHUP, and on SIGTERM ends live streams and exits 0', async () => {
  const port = await freePort();
  consoleConfig({ 'console.listen': `127.0.0.1:${port}`, 'console.live.poll_interval': '200ms' });
  const proc: Spawned = spawnBin('console', ['--config-dir', pipe.dir]);
  pipe.processes.push(proc);
  const log = join(pipe.logDir, 'console-main.log');
  await pipe.running('console', 'main');
  const status = await runCmq(['status', '--json', '--config-dir', pipe.dir]);
  expect(status.stdout).toContain('"console"');

  const stream = await openStream(port);
  expect(stream).toMatchObject({ status: 200, type: 'text/event-stream; charset=utf-8' });

  renameSync(log, `${log}.1`);
  proc.kill('SIGHUP');
  await waitFor(() => existsSync(log), 10_000, 'a new console-main.log after SIGHUP');
  expect(proc.alive()).toBe(true);

  proc.kill('SIGTERM');
  await stream.ended;
  expect(await proc.exitCode(15_000)).toBe(0);
  await waitForLog(log, (l) => l.msg === 'state stopped', 5_000, 'state stopped');
});
