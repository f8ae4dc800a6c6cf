import { join } from 'node:path';
import { listActions, listEvents } from '../helpers/actions';
import { writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

const TENANT = 'failover1';
const INTERVAL_MS = 2_000;
const JITTER = 0.1;
const LEASE_MS = 3_000;
/** How often a publisher looks: min(1 s, lease / 3, shortest interval / 4). */
const LOOK_MS = 500;
/** The others are long: this test watches sync.servers only. */
const SYNC = {
  'sync.enabled': 'true',
  'sync.interval.servers': '2s',
  'sync.interval.firewalls': '1h',
  'sync.interval.volumes': '1h',
  'sync.interval.budget': '1h',
  'sync.jitter': String(JITTER),
  'sync.lease': '3s',
};

interface Run {
  id: string;
  key: string;
  not_before: Date;
  actor: string;
  created_at: Date;
}

let pipe: Pipeline;
let account: string;

/** The account's sync.servers runs, oldest first, with who inserted each. */
async function runs(): Promise<Run[]> {
  const filter = { type: 'sync.servers', args: { account } };
  const inserted = new Map(
    (await listEvents(pipe.pool, { of: filter, from: null })).map((e) => [e.action_id, e.actor]),
  );
  return (await listActions(pipe.pool, filter))
    .filter((a) => inserted.has(a.id))
    .map((a) => ({
      id: a.id,
      key: a.idempotency_key ?? '',
      not_before: a.not_before,
      actor: inserted.get(a.id) ?? '',
      created_at: a.created_at,
    }));
}

async function leaseHolder(): Promise<string | undefined> {
  const { rows } = await pipe.pool.query<{ holder: string }>(
    "SELECT holder FROM sync_lease WHERE name = 'sync' AND expires_at > now()",
  );
  return rows[0]?.holder;
}

beforeAll(async () => {
  pipe = await Pipeline.create({ config: { 'publisher.properties': SYNC } });
  writeConfig(
    {
      'publisher-second.properties': {
        'log.dir': pipe.logDir,
        'metrics.dir': join(pipe.dir, 'metrics'),
        'heartbeat.interval': '1s',
        'shutdown.drain_timeout': '5s',
        'logs.paths': '',
        ...SYNC,
      },
    },
    pipe.dir,
  );
  await pipe.addTenants(TENANT);
  // No subscriber runs: the runs stay pending, which is all this test looks at (credentials never decrypted).
  const { rows } = await pipe.pool.query<{ id: string }>(
    "INSERT INTO accounts (tenant_id, provider, region, endpoint, credentials) VALUES ($1, 'ec2', 'us-east-1', 'http://127.0.0.1:9', 'v1:none:unused') RETURNING id::text",
    [TENANT],
  );
  account = rows[0]?.id ?? '';
}, 60_000);

afterAll(async () => {
  await pipe?.destroy();
});

describe('sync scheduling across a publisher failover (servers every 2 s, lease 3 s)', () => {
  it('kill -9 of the lease holder: the other takes over within the lease time; runs neither doubled nor skipped', async () => {
    const main = pipe.start('publisher');
    await pipe.running('publisher', 'main');
    await waitFor(
      async () => (await leaseHolder())?.startsWith('publisher:main@') === true,
      10_000,
      'main holds the lease',
    );
    const second = pipe.start('publisher', ['--instance', 'second']);
    await pipe.running('publisher', 'second');
    await waitFor(async () => (await runs()).length >= 3, 20_000, 'three runs with both publishers up');
    expect(await leaseHolder()).toMatch(/^publisher:main@/);

    main.kill('SIGKILL');
    await main.exited;
    const killedAt = Date.now();
    const atKill = (await runs()).length;
    await waitFor(
      async () => (await leaseHolder())?.startsWith('publisher:second@') === true,
      LEASE_MS + 3 * LOOK_MS + 2_000,
      'second takes the lease',
    );
    const tookOver = Date.now() - killedAt;
    // The lease time, one look, and slack for a loaded machine (kill, polling, queries).
    expect(tookOver).toBeLessThanOrEqual(LEASE_MS + LOOK_MS + 3_000);
    await waitFor(async () => (await runs()).length >= atKill + 3, 20_000, 'three runs after the failover');
    second.kill('SIGTERM');
    await second.exited;

    const all = await runs();
    // Every run's key is its planned time, and no planned time is there twice.
    for (const r of all) expect(r.key).toBe(`sync:${account}:servers:${r.not_before.toISOString()}`);
    expect(new Set(all.map((r) => r.key)).size).toBe(all.length);
    // Planned times increase with each run, never closer than an interval less the jitter, and
    // never further apart than an interval plus the jitter, except around the takeover: when the
    // takeover took longer than an interval, the overdue run is emitted once and the next one is
    // planned an interval from then (catch-up), so those gaps may also hold the takeover time
    // (lease + one look, with the slack the takeover itself gets above).
    const times = all.map((r) => r.not_before.getTime());
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    gaps.forEach((gap, i) => {
      const aroundTakeover = i === atKill - 1 || i === atKill;
      expect({ i, gap, ok: gap >= INTERVAL_MS * (1 - JITTER) - 1 }).toEqual({ i, gap, ok: true });
      const most = INTERVAL_MS * (1 + JITTER) + (aroundTakeover ? LEASE_MS + LOOK_MS + 3_000 : 500);
      expect({ i, gap, ok: gap <= most }).toEqual({ i, gap, ok: true });
    });
    // Before the kill main inserted them, after it second did; in between there is no gap of a missed run.
    const actors = all.map((r) => r.actor.replace(/@.*/, ''));
    expect(actors.slice(0, atKill).every((a) => a === 'publisher:main')).toBe(true);
    expect(actors.slice(atKill).every((a) => a === 'publisher:second')).toBe(true);
    // The lease was released on SIGTERM: nobody holds it now.
    expect(await leaseHolder()).toBeUndefined();
  }, 90_000);
});
