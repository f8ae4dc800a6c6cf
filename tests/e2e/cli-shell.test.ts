import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { actionEvents } from '../helpers/actions';
import { tempDir } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { ROOT, runCmq } from '../helpers/process';
import { waitFor } from '../helpers/wait';

const execFileP = promisify(execFile);
let pipe: Pipeline;
let home: string;

beforeAll(async () => {
  pipe = await Pipeline.create();
  await pipe.addTenants('t1');
  await pipe.startPublisherAndSubscriber();
  home = tempDir('cmq-shell-home-');
});

afterAll(async () => {
  await pipe?.destroy();
});

const shell = (code: string) => runCmq(['shell', '--config-dir', pipe.dir, '-e', code], { HOME: home });

it('shell -e: call() then wait() returns succeeded, through intake as shell:<user>@<host>', async () => {
  const called = await shell("await call('noop', {}, {tenant: 't1'})");
  expect(called).toMatchObject({ code: 0, stderr: '' });
  const id = JSON.parse(called.stdout) as string;
  expect(id).toMatch(/^\d+$/);
  const waited = await shell(`await wait('${id}')`);
  expect(waited.code).toBe(0);
  expect(JSON.parse(waited.stdout)).toMatchObject({ id, tenant_id: 't1', type: 'noop', state: 'succeeded' });
  const events = await actionEvents(pipe.pool, id);
  expect(events[0]?.actor).toMatch(/^shell:.+@.+$/);
});

it('shell -e: a bad argument is refused with the schema error, exit 2, nothing inserted', async () => {
  const bad = await shell("await call('noop', {sleep_ms: 'soon'}, {tenant: 't1'})");
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/^cmq: .*args\.sleep_ms: /);
  expect(bad.stdout).toBe('');
});

// Statements run too, with return giving the value.
it('shell -e: dead(), replay(), show(), status(), tenants() and config, as their commands give them', async () => {
  const code = `
    const id = await call('noop', {fail: 'permanent'}, {tenant: 't1', max_attempts: 1});
    const ended = await wait(id);
    const listed = (await dead()).map((d) => d.id);
    const replayed = await replay(id);
    const shown = await show(id);
    const s = await status();
    return {
      id, ended: ended.state, listed, replayed: replayed.state,
      events: shown.events.map((e) => e.to_state + ' ' + e.actor),
      tenants: (await tenants()).map((t) => t.id),
      processes: s.processes.map((p) => p.service).sort(),
      password: config['worker.properties']['db.password'],
      urls: config['mq.cfg']['amqp.urls'],
    };`;
  const run = await shell(code);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  const out = JSON.parse(run.stdout) as Record<string, unknown> & { id: string; events: string[] };
  expect(out).toMatchObject({
    ended: 'dead',
    replayed: 'pending',
    tenants: expect.arrayContaining(['t1']) as unknown,
    urls: expect.stringContaining('****') as unknown,
  });
  expect(out.listed).toContain(out.id);
  expect(out.events).toContainEqual(expect.stringMatching(/^pending shell:.+@.+$/));
  expect(out.processes).toEqual(expect.arrayContaining(['publisher', 'subscriber']));
  const failing = await shell("await replay('999999999')");
  expect(failing).toMatchObject({ code: 1, stderr: 'cmq: no action with id 999999999\n' });
});

describe('shell under tmux', () => {
  const session = `cmq-shell-${process.pid}`;
  const tmux = (...args: string[]) => execFileP('tmux', args, { timeout: 10_000 });
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-J', '-t', session)).stdout;
  const until = (what: string, test: (text: string) => boolean) =>
    waitFor(async () => test(await screen()), 20_000, what).catch(async (err: Error) => {
      throw new Error(`${err.message}; screen:\n${await screen()}`);
    });

  afterAll(async () => {
    await tmux('kill-session', '-t', session).catch(() => undefined);
  });

  it('completes action types, lists them in .help, awaits at top level, keeps history', async () => {
    const cmd = `HOME=${home} ${process.execPath} ${join(ROOT, 'packages/cli/dist/main.js')} shell --config-dir ${pipe.dir}`;
    await tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '60', cmd);
    await until('the prompt', (t) => t.includes('cmq> '));
    await tmux('send-keys', '-t', session, "call('server.la", 'Tab');
    await until('server.launch completed', (t) => t.includes("cmq> call('server.launch"));
    await tmux('send-keys', '-t', session, 'C-u');
    // A second Tab lists the types. Two Tabs read in one chunk count as pasted text, so each
    // poll sends one more Tab, 50 ms apart, until the list shows.
    await tmux('send-keys', '-t', session, "call('", 'Tab');
    await waitFor(
      async () => {
        await tmux('send-keys', '-t', session, 'Tab');
        const t = await screen();
        return t.includes('noop') && t.includes('guest.exec') && t.includes('sync.servers');
      },
      20_000,
      'the types listed',
    );
    await tmux('send-keys', '-t', session, 'C-u');
    await tmux('send-keys', '-t', session, "id = await call('noop', {}, {tenant: 't1'})", 'Enter');
    await tmux('send-keys', '-t', session, '(await wait(id)).state', 'Enter');
    await until('succeeded', (t) => t.includes("'succeeded'"));
    await tmux('send-keys', '-t', session, '.help', 'Enter');
    await until('.help', (t) => t.includes('replay(id)') && t.includes('server.terminate'));
    await tmux('send-keys', '-t', session, '.exit', 'Enter');
    await waitFor(
      () => {
        try {
          return readFileSync(join(home, '.cmq_shell_history'), 'utf8').includes('(await wait(id)).state');
        } catch {
          return false;
        }
      },
      10_000,
      'the history file',
    );
  });
});
