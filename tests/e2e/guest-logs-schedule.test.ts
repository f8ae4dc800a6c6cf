import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countActions, listActions, listEvents, waitForActions } from '../helpers/actions';
import { writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq } from '../helpers/process';
import { Sshd } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
let sshd: Sshd;
let work: string;
let main: Spawned;
const TENANT = 'sched1';
const SCHEDULE = { 'logs.collect_interval': '1s', 'logs.paths': '' };

const numbered = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');
const localCopy = (remote: string): string =>
  join(pipe.logDir, 'tenants', TENANT, 'guests', 'web1', remote.replace(/^\//, ''));

interface Scheduled {
  key: string;
  actor: string;
}

/** The scheduled collections, oldest first: each one's key, and who inserted it. */
async function scheduled(): Promise<Scheduled[]> {
  const collect = { type: 'guest.logs.collect' };
  const inserted = await listEvents(pipe.pool, { of: collect, from: null, to: 'pending' });
  const by = new Map(inserted.map((e) => [e.action_id, e.actor]));
  return (await listActions(pipe.pool, collect))
    .filter((a) => by.has(a.id))
    .map((a) => ({ key: a.idempotency_key ?? '', actor: by.get(a.id) ?? '' }));
}

beforeAll(async () => {
  sshd = await Sshd.start();
  work = sshd.writableDir();
  pipe = await Pipeline.create({
    config: {
      'km-client.cfg': {},
      'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8' },
      'publisher.properties': SCHEDULE,
    },
  });
  const keys = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  // A second publisher, same database and broker, its own name.
  writeConfig(
    {
      'publisher-second.properties': {
        'log.dir': pipe.logDir,
        'metrics.dir': join(pipe.dir, 'metrics'),
        'heartbeat.interval': '1s',
        'shutdown.drain_timeout': '5s',
        ...SCHEDULE,
      },
    },
    pipe.dir,
  );
  await pipe.addTenants(TENANT);
  const add = await runCmq([...sshd.guestAddArgs(TENANT), '--name', 'web1', '--config-dir', pipe.dir]);
  expect(add.code).toBe(0);
  main = pipe.start('publisher');
  pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
}, 60_000);

afterAll(async () => {
  await pipe.destroy();
  await sshd.stop();
});

describe('scheduled guest.logs.collect (publisher logs.collect_interval=1s)', () => {
  it('a growing remote log is copied as it grows: every line once, in order', async () => {
    const app = join(work, 'growing.log');
    writeFileSync(app, numbered(1, 5));
    await pipe.pool.query('UPDATE guests SET log_paths = $1 WHERE tenant_id = $2 AND id = $3', [[app], TENANT, 'web1']);
    await waitFor(
      () => existsSync(localCopy(app)) && readFileSync(localCopy(app), 'utf8') === numbered(1, 5),
      15_000,
      'first lines collected',
    );
    // Each growth collected before the next: the copy follows the log as it grows.
    for (let n = 6; n <= 30; n += 5) {
      appendFileSync(app, numbered(n, n + 4));
      await waitFor(
        () => readFileSync(localCopy(app), 'utf8') === numbered(1, n + 4),
        15_000,
        `lines up to ${n + 4} collected`,
      );
    }
    // A few more slots with nothing new: still exactly once.
    const collect = { type: 'guest.logs.collect', state: 'succeeded' };
    const done = await countActions(pipe.pool, collect);
    await waitForActions(pipe.pool, collect, done + 3, 15_000, 'three more collections');
    expect(readFileSync(localCopy(app), 'utf8')).toBe(numbered(1, 30));
    expect(await countActions(pipe.pool, { type: 'guest.logs.collect', state: ['failed', 'dead', 'expired'] })).toBe(0);
  }, 60_000);

  it('two publishers: each slot is scheduled once; when one is killed the other carries on', async () => {
    const before = (await scheduled()).length;
    const second = pipe.start('publisher', ['--instance', 'second']);
    await pipe.running('publisher', 'second');
    await waitFor(async () => (await scheduled()).length >= before + 4, 15_000, 'four more slots with both publishers');
    main.kill('SIGKILL');
    await main.exited;
    const atKill = (await scheduled()).length;
    await waitFor(
      async () => (await scheduled()).length >= atKill + 3,
      15_000,
      'three more slots after the first publisher died',
    );
    second.kill('SIGTERM');
    await second.exited;

    const all = await scheduled();
    const keys = all.map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.every((k) => /^logs:web1:\d+$/.test(k))).toBe(true);
    // Slots only increase, and the surviving publisher scheduled the ones after the kill.
    const slots = keys.map((k) => Number(k.split(':')[2]));
    expect([...slots].sort((a, b) => a - b)).toEqual(slots);
    expect(all.slice(atKill).every((s) => s.actor.startsWith('publisher:second@'))).toBe(true);
  }, 60_000);
});
