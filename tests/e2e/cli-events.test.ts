import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastEventId } from '../helpers/actions';
import { tempDir } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { ROOT, execFileP, runCmq, spawnBin } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/** `cmq events` against a running pipeline: streamed when piped, full-screen under tmux. */
const CMQ = join(ROOT, 'packages/cli/dist/main.js');
let pipe: Pipeline;

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: { 'subscriber.properties': { name: 'ev' }, 'persistence.properties': { 'redis.db': 14 } },
  });
  await pipe.addTenants('acme', 'beta');
  pipe.start('publisher');
  pipe.start('subscriber');
  await Promise.all([pipe.running('publisher', 'main'), pipe.running('subscriber', 'ev')]);
});

afterAll(async () => {
  await pipe.destroy();
});

it('piped: one line per transition, in order, filtered by tenant and type; SIGTERM exits 0', async () => {
  const events = spawnBin('cmq', [
    'events',
    '--tenant',
    'acme',
    '--type',
    'noop',
    '--since-id',
    await lastEventId(pipe.pool),
    '--config-dir',
    pipe.dir,
  ]);
  pipe.processes.push(events);
  const [acme] = await pipe.submit([{ type: 'noop', tenant: 'acme', args: { sleep_ms: 30 } }]);
  const [beta] = await pipe.submit([{ type: 'noop', tenant: 'beta' }]);
  await waitFor(
    () => events.stdout.includes(`${acme} running → succeeded`),
    20_000,
    'the action succeeded in the stream',
  );
  await pipe.allFinal(10_000);
  const lines = events.stdout.split('\n').filter((l) => l !== '');
  const mine = lines.filter((l) => l.includes(` acme noop ${acme} `));
  expect(mine.map((l) => /(\S+ → \S+)/.exec(l)?.[1])).toEqual([
    '(new) → pending',
    'pending → queued',
    'queued → running',
    'running → succeeded',
  ]);
  expect(mine[0]).toMatch(
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z acme noop \d+ \(new\) → pending by test: submitted$/,
  );
  expect(mine[2]).toMatch(/ queued → running by \S+/);
  expect(mine[3]).toMatch(/ running → succeeded by \S+ in \d+(ms|\.\ds)$/);
  expect(lines).toHaveLength(mine.length);
  expect(events.stdout).not.toContain(` ${beta} `);
  events.kill('SIGTERM');
  expect(await events.exitCode()).toBe(0);
  expect(events.stderr).toBe('');
});

it('a reader that goes away (| head -n 1) ends it with exit 0', async () => {
  const sh = spawn(
    'bash',
    ['-c', `node ${CMQ} events --since-id 0 --config-dir ${pipe.dir} | head -n 1; echo "status \${PIPESTATUS[0]}"`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => sh.on('exit', resolve));
  await waitFor(() => out.includes(' → '), 10_000, 'the first line');
  // The next write after head left meets EPIPE.
  await pipe.submit([{ type: 'noop', tenant: 'acme' }]);
  await exited;
  expect(out).toMatch(/ → .*\nstatus 0\n$/);
});

it('in a terminal (tmux): full screen with counts by state and the latest events; q quits and restores the screen', async () => {
  const socket = `cmq-events-${randomBytes(4).toString('hex')}`;
  const exitFile = join(tempDir(), 'exit');
  const tmux = (...args: string[]): Promise<{ stdout: string }> =>
    execFileP('tmux', ['-L', socket, ...args], { env: { PATH: process.env.PATH, TERM: 'xterm' } });
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p')).stdout;
  try {
    await tmux(
      'new-session',
      '-d',
      '-x',
      '120',
      '-y',
      '30',
      `${process.execPath} ${CMQ} events --config-dir ${pipe.dir}; echo $? > ${exitFile}; sleep 60`,
    );
    await waitFor(
      async () => (await screen()).startsWith('cmq events  all tenants, all types'),
      10_000,
      'the full screen',
    );
    const [id] = await pipe.submit([{ type: 'noop', tenant: 'acme' }]);
    await waitFor(
      async () => (await screen()).includes(` acme noop ${id} running → succeeded by `),
      15_000,
      'the action on screen',
    );
    await waitFor(async () => /^succeeded \d+/m.test(await screen()), 5_000, 'the counts by state');
    const shown = (await screen()).split('\n');
    expect(shown.filter((l) => l.includes(` acme noop ${id} `)).map((l) => /(\S+ → \S+)/.exec(l)?.[1])).toEqual([
      '(new) → pending',
      'pending → queued',
      'queued → running',
      'running → succeeded',
    ]);
    expect(shown.every((l) => l.length <= 120)).toBe(true);
    await tmux('send-keys', 'q');
    await waitFor(() => existsSync(exitFile) && readFileSync(exitFile, 'utf8') !== '', 10_000, 'the command to exit');
    expect(readFileSync(exitFile, 'utf8')).toBe('0\n');
    // Back on the normal screen: the full-screen view is gone.
    expect(await screen()).not.toContain('cmq events');
  } finally {
    await tmux('kill-server').catch(() => undefined);
  }
});

it('an event id past bigint is a usage error, not a poll retried for ever', async () => {
  const res = await runCmq(['events', '--since-id', '9223372036854775808', '--config-dir', pipe.dir]);
  expect(res.code).toBe(64);
  expect(res.stderr).toContain('must be an event id (an integer, 0 or more)');
});
