import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, createUniqueDatabase, dropDatabase, run } from '../helpers/scripts';
import { waitFor } from '../helpers/wait';

/**
 * scripts/install.sh into a temporary root, then the installed init script drives the built
 * services (real RabbitMQ, PostgreSQL and Redis on loopback) as user cmq.
 * Needs root and `npm run build`.
 */
const DRAIN_S = 5;
const PROCS = ['publisher-main', 'subscriber-default', 'subscriber-second', 'pinger-main'];

interface Paths {
  root: string;
  prefix: string;
  config: string;
  log: string;
  run: string;
  initd: string;
  units: string;
  logrotate: string;
  defaults: string;
}

function layout(root: string): Paths {
  return {
    root,
    prefix: join(root, 'opt', 'cmq-workers'),
    config: join(root, 'etc', 'cmq-workers'),
    log: join(root, 'log'),
    run: join(root, 'run'),
    initd: join(root, 'etc', 'init.d'),
    units: join(root, 'lib', 'systemd', 'system'),
    logrotate: join(root, 'etc', 'logrotate.d'),
    defaults: join(root, 'etc', 'default', 'cmq-workers'),
  };
}

function installEnv(p: Paths): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PREFIX: p.prefix,
    CONFIG_DIR: p.config,
    LOG_DIR: p.log,
    RUN_DIR: p.run,
    STATE_DIR: join(p.root, 'state'),
    INITD_DIR: p.initd,
    SYSTEMD_UNIT_DIR: p.units,
    LOGROTATE_DIR: p.logrotate,
    DEFAULTS_FILE: p.defaults,
    DRAIN_TIMEOUT: String(DRAIN_S),
  };
}

/** Live (non-zombie) processes whose command line mentions `fragment`. */
function processesOf(fragment: string): { pid: number; uid: number; cmdline: string }[] {
  const found: { pid: number; uid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (!cmdline.includes(fragment) || /^State:\s+Z/m.test(status)) continue;
      found.push({ pid: Number(entry), uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), cmdline });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

describe('init/cmq-workers against a PREFIX install', () => {
  let p: Paths;
  let db: string;
  let cmqUid: number;
  let impostor: ChildProcess | undefined;
  const init = (action: string): ReturnType<typeof run> =>
    run(join(p.initd, 'cmq-workers'), [action], { timeoutMs: 60_000 });
  const pidOf = (proc: string): number => Number(readFileSync(join(p.run, `${proc}.pid`), 'utf8').trim());

  beforeAll(async () => {
    if (process.getuid?.() !== 0)
      throw new Error('the init script test runs as root (it creates user cmq and switches to it)');
    for (const main of ['packages/cli', 'services/publisher', 'services/subscriber', 'services/pinger']) {
      if (!existsSync(join(REPO, main, 'dist', 'main.js')))
        throw new Error(`${main}/dist/main.js is missing: run 'npm run build' first`);
    }
    // mkdtemp makes a 0700 directory: user cmq must be able to traverse to its files.
    const root = await mkdtemp(join(tmpdir(), 'cmq-init-'));
    await chmod(root, 0o755);
    p = layout(root);
    db = await createUniqueDatabase('cmq_init');

    // Edited configuration exists before the install, which must keep it.
    await mkdir(p.config, { recursive: true });
    await writeFile(join(p.config, 'worker.properties'), `db.database=${db}\n`);
    const own = `log.dir=${p.log}\nmetrics.dir=${join(p.root, 'state', 'metrics')}\nshutdown.drain_timeout=${DRAIN_S}s\nheartbeat.interval=1s\n`;
    for (const file of ['publisher', 'subscriber', 'pinger'])
      await writeFile(join(p.config, `${file}.properties`), own);
    await writeFile(join(p.config, 'subscriber-second.properties'), `${own}queues=monitor,control\n`);

    const install = await run(join(REPO, 'scripts', 'install.sh'), [], { env: installEnv(p), timeoutMs: 180_000 });
    if (install.code !== 0) throw new Error(`install.sh failed (${install.code}): ${install.stderr}`);
    const migrate = await run(join(p.prefix, 'bin', 'cmq'), ['migrate', '--config-dir', p.config]);
    if (migrate.code !== 0) throw new Error(`cmq migrate failed (${migrate.code}): ${migrate.stderr}`);
    cmqUid = Number((await run('id', ['-u', 'cmq'])).stdout.trim());
  }, 240_000);

  afterAll(async () => {
    if (!p) return;
    await init('stop').catch(() => undefined);
    for (const proc of processesOf(p.root)) process.kill(proc.pid, 'SIGKILL');
    await dropDatabase(db);
    await rm(p.root, { recursive: true, force: true });
  }, 60_000);

  it('installed the production tree, the wrappers, the samples and the defaults, keeping edited files', async () => {
    const wrapper = await readFile(join(p.prefix, 'bin', 'cmq-subscriber'), 'utf8');
    expect(wrapper).toMatch(
      new RegExp(`^exec '/[^']*node' '${p.prefix}/services/subscriber/dist/main\\.js' "\\$@"$`, 'm'),
    );
    for (const bin of ['cmq', 'cmq-publisher', 'cmq-subscriber', 'cmq-pinger']) {
      expect((await stat(join(p.prefix, 'bin', bin))).mode & 0o111).toBeTruthy();
    }
    // Dev dependencies are gone; the native addon and the workspace links are there.
    expect(existsSync(join(p.prefix, 'node_modules', 'jest'))).toBe(false);
    expect(existsSync(join(p.prefix, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(p.prefix, 'node_modules', 'unix-dgram', 'build', 'Release', 'unix_dgram.node'))).toBe(true);
    expect(existsSync(join(p.prefix, 'node_modules', '@cmq', 'common', 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(p.prefix, 'packages', 'common', 'migrations'))).toBe(true);
    expect(existsSync(join(p.prefix, 'packages', 'common', 'src'))).toBe(false);

    expect(await readFile(join(p.config, 'worker.properties'), 'utf8')).toBe(`db.database=${db}\n`);
    expect(await readFile(join(p.config, 'mq.cfg'), 'utf8')).toBe(await readFile(join(REPO, 'etc', 'mq.cfg'), 'utf8'));
    const defaults = await readFile(p.defaults, 'utf8');
    expect(defaults).toContain(`PREFIX='${p.prefix}'`);
    expect(defaults).toContain(`DRAIN_TIMEOUT=${DRAIN_S}`);
    expect(await readFile(join(p.initd, 'cmq-workers'), 'utf8')).toContain(
      `CMQ_DEFAULTS=\${CMQ_DEFAULTS:-${p.defaults}}`,
    );
    const dirs = await Promise.all([p.log, join(p.log, 'tenants'), p.run].map((d) => stat(d)));
    for (const d of dirs) expect(d.uid).toBe(cmqUid);
  });

  it('the installed units, pointing at the installed bins, pass systemd-analyze verify', async () => {
    const files = (await readdir(p.units)).sort().map((n) => join(p.units, n));
    expect(files.map((f) => f.split('/').at(-1))).toEqual([
      'cmq-console.service',
      'cmq-pinger.service',
      'cmq-publisher.service',
      'cmq-subscriber@.service',
      'cmq-workers.target',
    ]);
    const r = await run('systemd-analyze', ['verify', ...files]);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.code).toBe(0);
    // systemd's stop timeout follows DRAIN_TIMEOUT (plus room), as the init script's does.
    for (const f of files.filter((n) => n.endsWith('.service')))
      expect([f, /^TimeoutStopSec=(\d+)$/m.exec(await readFile(f, 'utf8'))?.[1]]).toEqual([f, String(DRAIN_S + 10)]);
  });

  it('status before start: 3, every process stopped', async () => {
    const r = await init('status');
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('subscriber (second): stopped');
  });

  it('start: every process runs as cmq and reaches "state running"; status 0 lists each; what they write is not world-readable', async () => {
    // Run from a permissive shell: the services still get umask 027, like the units' UMask.
    const umask = process.umask(0);
    const r = await init('start').finally(() => process.umask(umask));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const proc of PROCS) {
      const log = join(p.log, `${proc}.log`);
      await waitFor(
        () => existsSync(log) && readFileSync(log, 'utf8').includes('"msg":"state running"'),
        30_000,
        `${proc} running`,
      );
      expect([log, (await stat(log)).mode & 0o007]).toEqual([log, 0]);
    }
    const status = await init('status');
    expect(status.code).toBe(0);
    for (const line of ['publisher (main)', 'subscriber (default)', 'subscriber (second)', 'pinger (main)']) {
      expect(status.stdout).toMatch(new RegExp(`^${line.replace(/[()]/g, '\\$&')}: running \\(pid \\d+\\)$`, 'm'));
    }
    const procs = processesOf(p.prefix);
    expect(procs.map((x) => x.pid).sort()).toEqual(PROCS.map(pidOf).sort());
    for (const proc of procs) expect(proc.uid).toBe(cmqUid);
  });

  it('start again is a no-op success', async () => {
    const before = PROCS.map(pidOf);
    const r = await init('start');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('already running');
    expect(PROCS.map(pidOf)).toEqual(before);
  });

  it('logrotate renames the logs and the reload it triggers makes every process open a new one', async () => {
    const state = join(p.root, 'logrotate.state');
    await writeFile(state, '', { mode: 0o600 });
    const r = await run('logrotate', ['-f', '-s', state, join(p.logrotate, 'cmq-workers')]);
    expect(r.code).toBe(0);
    for (const proc of PROCS) {
      expect(existsSync(join(p.log, `${proc}.log.1`))).toBe(true);
      const log = join(p.log, `${proc}.log`);
      await waitFor(
        () => existsSync(log) && readFileSync(log, 'utf8').includes('reopened'),
        15_000,
        `${proc} to reopen its log`,
      );
    }
    expect((await init('status')).code).toBe(0);
  });

  it('a process killed with -9: status 1 naming it, also once another process of user cmq has its pid', async () => {
    process.kill(pidOf('subscriber-second'), 'SIGKILL');
    let r = await init('status');
    await waitFor(async () => (r = await init('status')).code === 1, 10_000, 'status 1');
    expect(r.stdout).toMatch(/^subscriber \(second\): dead, pid file .* exists$/m);
    expect(r.stdout).toMatch(/^publisher \(main\): running/m);
    // The pid reused by another process of user cmq (the local driver's sshd, a tenant's command):
    // not taken for the subscriber, and (next test) never signalled by stop.
    impostor = spawn('sleep', ['300'], {
      uid: cmqUid,
      gid: Number((await run('id', ['-g', 'cmq'])).stdout.trim()),
      stdio: 'ignore',
    });
    await writeFile(join(p.run, 'subscriber-second.pid'), `${impostor.pid}\n`);
    r = await init('status');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^subscriber \(second\): dead, pid file .* exists$/m);
  });

  it('stop: TERM drains every process well within the deadline; status 3; no process left', async () => {
    const started = Date.now();
    const r = await init('stop');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(''); // nothing needed SIGKILL
    expect(Date.now() - started).toBeLessThan((DRAIN_S + 5) * 1000);
    const status = await init('status');
    expect(status.code).toBe(3);
    expect(status.stdout).not.toMatch(/running|dead/);
    expect(processesOf(p.root)).toEqual([]);
    expect((await readdir(p.run)).filter((f) => f.endsWith('.pid'))).toEqual([]);
    expect(impostor?.exitCode).toBeNull(); // the process that had the dead subscriber's pid was left alone
    expect(impostor?.signalCode).toBeNull();
    impostor?.kill('SIGKILL');
    for (const proc of ['publisher-main', 'subscriber-default', 'pinger-main']) {
      expect(readFileSync(join(p.log, `${proc}.log`), 'utf8')).toContain('"msg":"state stopped"');
    }
  });

  it('the installed backup.sh and restore.sh find the install and its database by themselves', async () => {
    // No PG* variables: the scripts read the defaults file, then `cmq config pg-env`.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) if (key.startsWith('PG') || key === 'CMQ_DEFAULTS') delete env[key];
    const target = join(p.root, 'backups');
    const backup = await run(join(p.prefix, 'scripts', 'backup.sh'), ['--target', target], { env });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const [name] = await readdir(target);
    const members = (await run('tar', ['-tzf', join(target, name as string, 'tree.tar.gz')])).stdout.split('\n');
    expect(members).toEqual(
      expect.arrayContaining([
        'prefix/bin/cmq-publisher',
        'config/worker.properties',
        'config/subscriber-second.properties',
      ]),
    );
    expect(members.filter((m) => m.endsWith('.log'))).toEqual([]);

    const restore = await run(join(p.prefix, 'scripts', 'restore.sh'), [join(target, name as string), '--no-tree'], {
      env,
    });
    expect(restore.code).toBe(0);
    const kept = /kept as (\S+):/.exec(restore.stdout)?.[1];
    expect(kept).toMatch(new RegExp(`^${db}_pre_`));
    await dropDatabase(kept as string);
    const migrate = await run(join(p.prefix, 'bin', 'cmq'), ['migrate', '--config-dir', p.config]);
    expect(migrate.code).toBe(0); // the restored database is at the current schema already
  });

  it('installing again replaces the tree but keeps the edited defaults and configuration', async () => {
    await writeFile(p.defaults, `${await readFile(p.defaults, 'utf8')}# edited by the operator\n`);
    // operations.md has the operator make STATE_DIR traversable: an upgrade must not undo it.
    await chmod(join(p.root, 'state'), 0o711);
    // A directory the services write to, left to root by a process run as root (the bench's
    // metrics): the install gives it back to cmq, its mode kept.
    await chown(join(p.root, 'state', 'metrics'), 0, 0);
    await chmod(join(p.root, 'state', 'metrics'), 0o750);
    await writeFile(join(p.prefix, 'left-over-from-old-release.js'), '');
    // Without DRAIN_TIMEOUT in the environment: the kept defaults file's value still sets the units'.
    const env = installEnv(p);
    delete env.DRAIN_TIMEOUT;
    const r = await run(join(REPO, 'scripts', 'install.sh'), [], { env, timeoutMs: 180_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`kept existing ${join(p.config, 'worker.properties')}`);
    expect(await readFile(join(p.units, 'cmq-publisher.service'), 'utf8')).toMatch(
      new RegExp(`^TimeoutStopSec=${DRAIN_S + 10}$`, 'm'),
    );
    expect(await readFile(p.defaults, 'utf8')).toContain('# edited by the operator');
    expect(await readFile(join(p.config, 'worker.properties'), 'utf8')).toBe(`db.database=${db}\n`);
    expect(existsSync(join(p.prefix, 'left-over-from-old-release.js'))).toBe(false);
    expect((await stat(join(p.root, 'state'))).mode & 0o777).toBe(0o711);
    const metrics = await stat(join(p.root, 'state', 'metrics'));
    expect([metrics.uid, metrics.mode & 0o777]).toEqual([cmqUid, 0o750]);
    expect(r.stdout).toContain(`${join(p.root, 'state', 'metrics')} was owned by root; now by cmq:cmq`);
    const check = await run(join(p.prefix, 'bin', 'cmq'), ['config', 'check', '--config-dir', p.config]);
    expect(check.code).toBe(0);
  }, 180_000);
});
