import { chmod, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, run } from '../helpers/scripts';
import { waitFor } from '../helpers/wait';

/**
 * The init script's edge cases, against stand-in programs (no build needed): a process that
 * ignores SIGTERM, one that exits at once as on bad configuration, HUP, the environment.
 * The built services themselves are driven by tests/e2e/init-script.test.ts.
 */
const FAKE = `
const args = process.argv.slice(2).join(' ');
console.log('started ' + args + ' leak=' + (process.env.CMQ_TEST_LEAK ?? 'none'));
if (args.includes('--instance bad')) { console.error('bad configuration'); process.exit(78); }
process.on('SIGHUP', () => console.log('HUP'));
process.on('SIGTERM', () => {
  console.log('TERM');
  if (!args.includes('--instance stubborn')) setTimeout(() => process.exit(0), 50);
});
setInterval(() => {}, 1000);
`;

describe('init/cmq-workers with stand-in services', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  const dir = (...parts: string[]): string => join(root, ...parts);
  const init = (action: string): ReturnType<typeof run> =>
    run(join(REPO, 'init', 'cmq-workers'), [action], { env, timeoutMs: 60_000 });
  const out = (proc: string): string =>
    existsSync(dir('log', `${proc}.out`)) ? readFileSync(dir('log', `${proc}.out`), 'utf8') : '';

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the init script test runs as root (start-stop-daemon --chuid)');
    root = await mkdtemp(join(tmpdir(), 'cmq-init-fake-'));
    await chmod(root, 0o755);
    for (const d of ['bin', 'etc', 'log', 'run']) await mkdir(dir(d));
    // Where the install puts each service's code: the init script checks that a pid it finds
    // runs that file (and not some other process that got the pid).
    for (const svc of ['publisher', 'subscriber', 'pinger', 'console']) {
      await mkdir(dir('services', svc, 'dist'), { recursive: true });
      await writeFile(dir('services', svc, 'dist', 'main.js'), FAKE);
      await writeFile(
        dir('bin', `cmq-${svc}`),
        `#!/bin/sh\nexec '${process.execPath}' '${dir('services', svc, 'dist', 'main.js')}' ${svc} "$@"\n`,
      );
      await chmod(dir('bin', `cmq-${svc}`), 0o755);
    }
    await writeFile(dir('etc', 'subscriber.properties'), '');
    // The script sources this file; root runs the stand-ins so no user needs creating here.
    await writeFile(
      dir('defaults'),
      [
        `PREFIX=${root}`,
        `CONFIG_DIR=${dir('etc')}`,
        `LOG_DIR=${dir('log')}`,
        `RUN_DIR=${dir('run')}`,
        `STATE_DIR=${root}`,
        'CMQ_USER=root',
        'DRAIN_TIMEOUT=1',
        'STOP_GRACE=1',
        'START_CHECK=2',
        '',
      ].join('\n'),
    );
    env = { ...process.env, CMQ_DEFAULTS: dir('defaults'), CMQ_TEST_LEAK: 'leaked' };
  });

  afterAll(async () => {
    await init('stop');
    await rm(root, { recursive: true, force: true });
  });

  afterEach(async () => {
    await init('stop');
    for (const f of [
      'subscriber-bad.properties',
      'subscriber-stubborn.properties',
      'subscriber-gone.properties',
      'console.properties',
    ]) {
      await rm(dir('etc', f), { force: true });
    }
  });

  it('start fails, naming the process and its .out file, when one exits at once (exit 78)', async () => {
    await writeFile(dir('etc', 'subscriber-bad.properties'), '');
    const r = await init('start');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`subscriber (bad) exited during start-up; see ${dir('log', 'subscriber-bad.out')}`);
    expect(out('subscriber-bad')).toContain('bad configuration');
    expect(existsSync(dir('run', 'subscriber-bad.pid'))).toBe(false);
    const status = await init('status');
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/^subscriber \(bad\): stopped$/m);
    expect(status.stdout).toMatch(/^publisher \(main\): running/m);
  });

  it('starts the services with a clean environment and the right arguments', async () => {
    expect((await init('start')).code).toBe(0);
    expect(out('publisher-main')).toContain(`started publisher --config-dir ${dir('etc')} leak=none`);
    expect(out('subscriber-default')).toContain(`started subscriber --config-dir ${dir('etc')} leak=none`);
  });

  it('starts the console only when console.properties sets console.enabled=true', async () => {
    await writeFile(dir('etc', 'console.properties'), 'console.enabled = false\n');
    expect((await init('start')).code).toBe(0);
    expect(existsSync(dir('run', 'console-main.pid'))).toBe(false);
    expect(out('console-main')).toBe('');
    await init('stop');
    await writeFile(dir('etc', 'console.properties'), '# the web console\nconsole.enabled = true\n');
    expect((await init('start')).code).toBe(0);
    expect(out('console-main')).toContain(`started console --config-dir ${dir('etc')} leak=none`);
    expect((await init('status')).stdout).toMatch(/^console \(main\): running/m);
    // Stop covers it by its pid file, even once the file no longer enables it.
    await writeFile(dir('etc', 'console.properties'), 'console.enabled = false\n');
    expect((await init('stop')).code).toBe(0);
    expect(existsSync(dir('run', 'console-main.pid'))).toBe(false);
  });

  it('reload sends HUP to every process, which keeps running', async () => {
    expect((await init('start')).code).toBe(0);
    const r = await init('reload');
    expect(r.code).toBe(0);
    for (const proc of ['publisher-main', 'subscriber-default', 'pinger-main']) {
      await waitFor(() => out(proc).includes('HUP'), 5_000, `${proc} to get HUP`);
    }
    expect((await init('status')).code).toBe(0);
  });

  it('stop sends KILL to a process still running after DRAIN_TIMEOUT + STOP_GRACE', async () => {
    await writeFile(dir('etc', 'subscriber-stubborn.properties'), '');
    expect((await init('start')).code).toBe(0);
    const stubborn = Number(await readFile(dir('run', 'subscriber-stubborn.pid'), 'utf8'));
    const started = Date.now();
    const r = await init('stop');
    const elapsed = Date.now() - started;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('subscriber (stubborn) did not stop within 2s: sending KILL');
    expect(out('subscriber-stubborn')).toContain('TERM');
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
    expect(elapsed).toBeLessThan(8_000);
    expect(
      existsSync(`/proc/${stubborn}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${stubborn}/status`, 'utf8')),
    ).toBe(false);
    expect((await init('status')).code).toBe(3);
  });

  it('stop and status still cover a process whose properties file was removed after start', async () => {
    await writeFile(dir('etc', 'subscriber-gone.properties'), '');
    expect((await init('start')).code).toBe(0);
    await unlink(dir('etc', 'subscriber-gone.properties'));
    expect((await init('status')).stdout).toMatch(/^subscriber \(gone\): running/m);
    expect((await init('stop')).code).toBe(0);
    expect(existsSync(dir('run', 'subscriber-gone.pid'))).toBe(false);
  });
});
