import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeConfig } from '../helpers/config-dir';
import { listActions, listEvents } from '../helpers/actions';
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
  const events = await listEvents(pipe.pool, { to: ['queued', 'running'] });
  const perAction = new Map<string, { queued: number; running: number }>();
  for (const e of events) {
    const n = perAction.get(e.action_id) ?? { queued: 0, running: 0 };
    if (e.to_state === 'queued') n.queued += 1;
    else n.running += 1;
    perAction.set(e.action_id, n);
  }
  const odd = (await listActions(pipe.pool))
    .map((a) => ({ id: a.id, attempts: a.attempts, ...(perAction.get(a.id) ?? { queued: 0, running: 0 }) }))
    .filter((a) => a.queued !== 1 || a.running !== 1 || a.attempts !== 1);
  expect(odd).toEqual([]);

  // Both relays did part of the work (else this test proved nothing about two at once).
  const byRelay = new Map<string, number>();
  for (const e of events) if (e.to_state === 'queued') byRelay.set(e.actor, (byRelay.get(e.actor) ?? 0) + 1);
  expect([...byRelay.keys()].map((actor) => actor.split('@')[0]).sort()).toEqual([
    'publisher:main',
    'publisher:second',
  ]);
  for (const n of byRelay.values()) expect(n).toBeGreaterThan(0);

  // And the broker was given each action once: the two publishers' confirmed publishes add up to N.
  await waitFor(() => published('main') + published('second') >= N, 10_000, 'both publishers wrote their metrics');
  // A fixed wait on purpose: proving that nothing more is published (a duplicate) takes time,
  // here more than three metrics writes of each publisher.
  await new Promise((r) => setTimeout(r, 1_000));
  expect(published('main') + published('second')).toBe(N);
  expect(ids).toHaveLength(N);
}, 180_000);
