import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listActions } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq } from '../helpers/process';
import { Sshd } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
let sshd: Sshd;
let work: string;
let subscriber: Spawned;
const TENANT = 'logs1';

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
const numbered = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

async function collect(paths: string[]): Promise<Array<Record<string, unknown>>> {
  const res = await runCmq([
    'call',
    'guest.logs.collect',
    '--tenant',
    TENANT,
    '--args',
    JSON.stringify({ guest: 'web1', paths }),
    '--wait',
    '--timeout',
    '30',
    '--config-dir',
    pipe.dir,
  ]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return (JSON.parse(lines(res.stdout)[2] ?? '{}') as { files: Array<Record<string, unknown>> }).files;
}

function local(remote: string): string {
  return readFileSync(join(pipe.logDir, 'tenants', TENANT, 'guests', 'web1', remote.replace(/^\//, '')), 'utf8');
}

beforeAll(async () => {
  sshd = await Sshd.start();
  work = sshd.writableDir();
  pipe = await Pipeline.create({ config: { 'km-client.cfg': {}, 'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8' } } });
  const keys = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  await pipe.addTenants(TENANT);
  pipe.start('publisher');
  subscriber = pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
  const add = await runCmq([...sshd.guestAddArgs(TENANT), '--name', 'web1', '--config-dir', pipe.dir]);
  expect(add.code).toBe(0);
});

afterAll(async () => {
  await pipe.destroy();
  await sshd.stop();
});

describe('guest.logs.collect against a real sshd', () => {
  it('reads only what is new, across a logrotate (rename + new file) and a truncation: every line exactly once, in order', async () => {
    const app = join(work, 'app.log');
    writeFileSync(app, numbered(1, 3));
    expect(await collect([app])).toEqual([
      { path: app, bytes: numbered(1, 3).length, rotated: false, truncated: false, missing: false },
    ]);
    expect(local(app)).toBe(numbered(1, 3));

    appendFileSync(app, numbered(4, 5));
    await collect([app]);
    expect(local(app)).toBe(numbered(1, 5));
    expect((await collect([app]))[0]).toMatchObject({ bytes: 0 });

    // Lines written just before the rotation are finished from the renamed file, then the new one starts.
    appendFileSync(app, numbered(6, 7));
    renameSync(app, `${app}.1`);
    writeFileSync(app, numbered(8, 9));
    expect((await collect([app]))[0]).toMatchObject({ rotated: true, bytes: numbered(6, 9).length });
    expect(local(app)).toBe(numbered(1, 9));

    appendFileSync(app, numbered(10, 11));
    await collect([app]);
    writeFileSync(app, 'line 12\n'); // copytruncate-style: shorter than the offset
    expect((await collect([app]))[0]).toMatchObject({ truncated: true });
    expect(local(app)).toBe(numbered(1, 12));
  });

  it('bytes appended locally by a run that died before its offset commit are not repeated', async () => {
    const app = join(work, 'crash.log');
    writeFileSync(app, numbered(1, 2));
    await collect([app]);
    appendFileSync(app, numbered(3, 4));
    // The state a kill -9 between the local fsync and the offset commit leaves behind.
    appendFileSync(join(pipe.logDir, 'tenants', TENANT, 'guests', 'web1', app.replace(/^\//, '')), numbered(3, 4));
    await collect([app]);
    expect(local(app)).toBe(numbered(1, 4));
  });

  it('a missing remote file is reported, not an error; other paths are still collected', async () => {
    const other = join(work, 'other.log');
    writeFileSync(other, 'x\n');
    const files = await collect([join(work, 'nope.log'), other]);
    expect(files).toEqual([
      expect.objectContaining({ missing: true, bytes: 0 }),
      expect.objectContaining({ path: other, bytes: 2 }),
    ]);
    const bad = await runCmq([
      'call',
      'guest.logs.collect',
      '--tenant',
      TENANT,
      '--args',
      '{"guest":"web1","paths":["relative/x.log"]}',
      '--config-dir',
      pipe.dir,
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('an absolute path');
  });

  it('a subscriber SIGKILLed between the local append and the offset commit, then a logrotate and a truncation: every line exactly once, in order', async () => {
    const app = join(work, 'killed.log');
    writeFileSync(app, numbered(1, 3));
    await collect([app]);
    appendFileSync(app, numbered(4, 6));

    // A subscriber with the test-only pause hook: it appends lines 4-6 locally, then waits before committing.
    subscriber.kill('SIGTERM');
    await subscriber.exited;
    const pause = join(pipe.dir, 'pause-before-commit');
    const paused = pipe.start('subscriber', [], { CMQ_TEST_PAUSE_BEFORE_OFFSET_COMMIT_FILE: pause });
    await pipe.running('subscriber', 'default', paused.pid);
    const call = await runCmq([
      'call',
      'guest.logs.collect',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ guest: 'web1', paths: [app] }),
      '--config-dir',
      pipe.dir,
    ]);
    expect(call.code).toBe(0);
    await waitFor(() => existsSync(`${pause}.waiting`), 20_000, 'the subscriber paused before its offset commit');
    expect(local(app)).toBe(numbered(1, 6)); // appended and fsynced, offset not committed
    paused.kill('SIGKILL');
    await paused.exited;

    // While it is down: lines before a rotation, the rotation, a new file.
    appendFileSync(app, numbered(7, 8));
    renameSync(app, `${app}.1`);
    writeFileSync(app, numbered(9, 10));

    subscriber = pipe.start('subscriber');
    await pipe.running('subscriber', 'default', subscriber.pid);
    await waitFor(
      async () =>
        (await listActions(pipe.pool, { type: 'guest.logs.collect', args: { paths: [app] } })).at(-1)?.state ===
        'succeeded',
      45_000,
      'the interrupted collection ran again and succeeded',
    );
    expect(local(app)).toBe(numbered(1, 10));

    writeFileSync(app, 'line 11\n'); // truncated
    expect((await collect([app]))[0]).toMatchObject({ truncated: true });
    expect(local(app)).toBe(numbered(1, 11));
  }, 90_000);
});
