import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { countEvents, stateCounts } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { execFileP } from '../helpers/process';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
const tenant = `metrics-${randomBytes(3).toString('hex')}`;
const fast = { 'metrics.interval': '300ms' };

/** promtool, from Debian's prometheus package, installed when missing (never skipped). */
function promtool(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool']).toString().trim();
  } catch {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'prometheus'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return '/usr/bin/promtool';
  }
}

/** Parses text exposition into `name{labels}` → value, checking every line's shape. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text format: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

function sum(samples: Map<string, number>, name: string, ...labels: string[]): number {
  let total = 0;
  for (const [key, value] of samples)
    if (key.startsWith(`${name}{`) && labels.every((l) => key.includes(l))) total += value;
  return total;
}

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: {
      'publisher.properties': fast,
      'subscriber.properties': { ...fast, 'retry.initial_delay': '100ms' },
      'pinger.properties': { ...fast, 'pinger.interval': '1s', 'canary.families': 'control' },
      // Heartbeats live in Redis: a database of its own, so other tests' subscribers are not counted.
      'persistence.properties': { 'redis.db': 15 },
    },
  });
  await pipe.addTenants(tenant);
});

afterAll(async () => {
  await pipe.destroy();
});

it('each process writes a .prom file that parses as Prometheus text, and its counters match the actions run', async () => {
  // Started under a strict umask: the .prom files must still be readable by node_exporter's user.
  const umask = process.umask(0o077);
  const publisher = pipe.start('publisher');
  const subscriber = pipe.start('subscriber');
  const pinger = pipe.start('pinger');
  process.umask(umask);
  await pipe.running('subscriber', 'default');
  await pipe.submit([
    ...Array.from({ length: 30 }, () => ({ type: 'noop', tenant })),
    ...Array.from({ length: 5 }, () => ({ type: 'noop', tenant, args: { fail: 'permanent' as const } })),
    ...Array.from({ length: 4 }, () => ({ type: 'noop', tenant, args: { fail_times: 1 } })),
  ]);
  await pipe.allFinal(30_000);
  const metricsDir = join(pipe.dir, 'metrics');
  const pingerFile = join(metricsDir, 'pinger-main.prom');
  await waitFor(
    () => existsSync(pingerFile) && readFileSync(pingerFile, 'utf8').includes('cmq_canary_latency_seconds{'),
    30_000,
    'a canary latency in the pinger metrics',
  );
  // The pinger first: its last metrics must still see the subscriber's heartbeat, which the
  // subscriber removes when it stops.
  pinger.kill('SIGTERM');
  expect(await pinger.exitCode(15_000)).toBe(0);
  for (const p of [publisher, subscriber]) p.kill('SIGTERM');
  for (const p of [publisher, subscriber]) expect(await p.exitCode(15_000)).toBe(0);

  const tool = promtool();
  const files = ['publisher-main.prom', 'subscriber-default.prom', 'pinger-main.prom'].map((f) => join(metricsDir, f));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    await execFileP('sh', ['-c', `"${tool}" check metrics < "${file}"`]);
    expect(parse(text).size).toBeGreaterThan(0);
    expect([file, statSync(file).mode & 0o777]).toEqual([file, 0o644]);
  }
  const sub = parse(readFileSync(files[1] as string, 'utf8'));
  expect(await stateCounts(pipe.pool, { tenant })).toEqual({ succeeded: 34, dead: 5 });
  // Canaries (tenant cmq-canary) are noop-free pings: count noop outcomes only.
  expect(sum(sub, 'cmq_actions_total', 'type="noop"', 'state="succeeded"')).toBe(34);
  expect(sum(sub, 'cmq_actions_total', 'type="noop"', 'state="dead"')).toBe(5);
  expect(sum(sub, 'cmq_actions_total', 'type="noop"', 'state="retrying"')).toBe(4);
  expect(sum(sub, 'cmq_action_duration_seconds_count', 'type="noop"')).toBe(43);
  expect(sub.get('cmq_actions_in_flight{service="subscriber",name="default"}')).toBe(0);

  const pub = parse(readFileSync(files[0] as string, 'utf8'));
  expect(sum(pub, 'cmq_relay_published_total')).toBe(await countEvents(pipe.pool, { to: 'queued' }));
  expect(sum(pub, 'cmq_relay_window', 'family="control"')).toBe(1000);

  const ping = parse(readFileSync(files[2] as string, 'utf8'));
  expect(sum(ping, 'cmq_live_subscribers', 'family="control"')).toBe(1);
  expect(sum(ping, 'cmq_dependency_up')).toBe(3);
  const ages = [...ping.entries()].filter(
    ([k]) => k.startsWith('cmq_heartbeat_age_seconds{') && k.includes('process="subscriber:default@'),
  );
  expect(ages).toHaveLength(1);
  expect(ages[0]?.[1]).toBeLessThan(5);
}, 90_000);
