import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

// Several publishers relay at once: no row is published twice, none is left behind.
let pipe: Pipeline;
const suffix = randomBytes(3).toString('hex');
const TENANTS = [`r1-${suffix}`, `r2-${suffix}`, `r3-${suffix}`];
const N = 3_000;
// Small batches and a small window: many relay cycles, so the two publishers contend for the
// family on every wake-up instead of one of them moving everything in a few cycles.
const RELAY = { 'relay.batch_size': 20, 'relay.window': 60, 'relay.tenant_cap': 30, 'metrics.interval': '300ms' };

/** cmq_relay_published_total of one publisher, summed over families (0 before its first write). */
function published(name: string): number {
  const file = join(pipe.dir, 'metrics', `publisher-${name}.prom`);
  if (!existsSync(file)) return 0;
  let total = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^cmq_relay_published_total\{[^}]*\} (\d+)$/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

beforeAll(async () => {
  pipe = await Pipeline.create({ config: { 'publisher.properties': RELAY } });
  writeConfig(
    {
      'publisher-second.properties': {
        'log.dir': pipe.logDir,
        'metrics.dir': join(pipe.dir, 'metrics'),
        'heartbeat.interval': '1s',
        'shutdown.drain_timeout': '5s',
        ...RELAY,
      },
    },
    pipe.dir,
  );
  await pipe.addTenants(...TENANTS);
  pipe.start('publisher');
  pipe.start('publisher', ['--instance', 'second']);
  pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('publisher', 'second');
  await pipe.running('subscriber', 'default');
}, 60_000);

afterAll(async () => {
  await pipe.destroy();
});

it('two publishers relaying at once publish every action exactly once', async () => {
  // Submitted while both relays run, in batches: each batch's NOTIFY wakes both.
  const ids: string[] = [];
  for (let i = 0; i < N; i += 100) {
    ids.push(
      ...(await pipe.submit(
        Array.from({ length: 100 }, (_, j) => ({ type: 'noop', tenant: TENANTS[(i + j) % TENANTS.length] as string })),
      )),
    );
  }
  await pipe.allFinal(120_000);
  expect(await pipe.states()).toEqual({ succeeded: N });

  // Each action went onto the broker once: one `queued` transition, one claim, one attempt.
  const { rows: odd } = await pipe.pool.query(
    `SELECT a.id, a.attempts, count(*) FILTER (WHERE e.to_state = 'queued')::int AS queued, count(*) FILTER (WHERE e.to_state = 'running')::int AS running
     FROM actions a JOIN action_events e ON e.action_id = a.id GROUP BY a.id, a.attempts
     HAVING count(*) FILTER (WHERE e.to_state = 'queued') <> 1 OR count(*) FILTER (WHERE e.to_state = 'running') <> 1 OR a.attempts <> 1`,
  );
  expect(odd).toEqual([]);

  // Both relays did part of the work (else this test proved nothing about two at once).
  const { rows: byRelay } = await pipe.pool.query<{ actor: string; n: number }>(
    "SELECT actor, count(*)::int AS n FROM action_events WHERE to_state = 'queued' GROUP BY actor ORDER BY actor",
  );
  expect(byRelay.map((r) => r.actor.split('@')[0])).toEqual(['publisher:main', 'publisher:second']);
  for (const r of byRelay) expect(r.n).toBeGreaterThan(0);

  // And the broker was given each action once: the two publishers' confirmed publishes add up to N.
  await waitFor(() => published('main') + published('second') >= N, 10_000, 'both publishers wrote their metrics');
  await new Promise((r) => setTimeout(r, 1_000));
  expect(published('main') + published('second')).toBe(N);
  expect(ids).toHaveLength(N);
}, 180_000);
