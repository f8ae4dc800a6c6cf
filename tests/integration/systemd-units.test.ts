import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, run } from '../helpers/scripts';

const UNITS = join(REPO, 'init', 'systemd');
const SERVICES = ['cmq-publisher.service', 'cmq-subscriber@.service', 'cmq-pinger.service', 'cmq-console.service'];

/** `systemd-analyze`, installing Debian's systemd package when it is missing (never skip). */
async function ensureSystemdAnalyze(): Promise<void> {
  if ((await run('sh', ['-c', 'command -v systemd-analyze'])).code === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await run('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 });
  if (update.code !== 0) throw new Error(`apt-get update failed: ${update.stderr}`);
  const install = await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'systemd'], {
    env,
    timeoutMs: 300_000,
  });
  if (install.code !== 0) throw new Error(`apt-get install systemd failed: ${install.stderr}`);
}

/** `[Section]` → key → values, in file order (keys may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`unparsable unit line: ${raw}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function value(unit: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.join(' ');
}

describe('init/systemd units', () => {
  let root: string;
  let units: string;

  beforeAll(async () => {
    await ensureSystemdAnalyze();
    // verify insists that ExecStart= programs exist: point the units at stand-ins in a temp dir
    // (the e2e init test verifies the units as scripts/install.sh writes them, real bins and all).
    root = await mkdtemp(join(tmpdir(), 'cmq-units-'));
    units = join(root, 'units');
    await mkdir(join(root, 'bin'));
    await mkdir(units);
    for (const bin of ['cmq-publisher', 'cmq-subscriber', 'cmq-pinger', 'cmq-console']) {
      await writeFile(join(root, 'bin', bin), '#!/bin/sh\n');
      await chmod(join(root, 'bin', bin), 0o755);
    }
    for (const name of await readdir(UNITS)) {
      const text = await readFile(join(UNITS, name), 'utf8');
      await writeFile(join(units, name), text.replaceAll('/opt/cmq-workers/bin/', `${root}/bin/`));
    }
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('ships the five units', async () => {
    expect((await readdir(UNITS)).sort()).toEqual([
      'cmq-console.service',
      'cmq-pinger.service',
      'cmq-publisher.service',
      'cmq-subscriber@.service',
      'cmq-workers.target',
    ]);
  });

  it('systemd-analyze verify accepts every unit without a single warning', async () => {
    const files = (await readdir(units)).map((n) => join(units, n));
    const r = await run('systemd-analyze', ['verify', ...files]);
    // verify exits 0 on unknown keys and bad values, printing a warning: any output is a failure.
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.code).toBe(0);
  });

  it('verify would catch a typo (the check above is not vacuous)', async () => {
    const bad = join(units, 'cmq-typo.service');
    await writeFile(bad, `[Service]\nType=notfy\nExecStart=${root}/bin/cmq-pinger\nRestartPreventExitStatuss=78\n`);
    try {
      const r = await run('systemd-analyze', ['verify', bad]);
      expect(`${r.stdout}${r.stderr}`).toMatch(/notfy/);
      expect(`${r.stdout}${r.stderr}`).toMatch(/RestartPreventExitStatuss/);
    } finally {
      await rm(bad);
    }
  });

  it.each(SERVICES)('%s: notify, watchdog, restart policy, user, sandbox, reload, target', async (name) => {
    const unit = parseUnit(await readFile(join(UNITS, name), 'utf8'));
    const svc = (key: string): string | undefined => value(unit, 'Service', key);
    expect(svc('Type')).toBe('notify');
    expect(svc('NotifyAccess')).toBe('main');
    expect(svc('WatchdogSec')).toBe('30');
    expect(svc('Restart')).toBe('on-failure');
    expect(svc('RestartPreventExitStatus')).toBe('78');
    expect(svc('KillSignal')).toBe('SIGTERM');
    // Longer than the default drain deadline (30 s), so the process's own deadline acts first.
    expect(Number(svc('TimeoutStopSec'))).toBeGreaterThan(30);
    expect(svc('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(svc('User')).toBe('cmq');
    expect(svc('NoNewPrivileges')).toBe('yes');
    expect(svc('ProtectSystem')).toBe('strict');
    expect(svc('ProtectHome')).toBe('yes');
    expect(svc('PrivateTmp')).toBe('yes');
    expect(svc('ProtectKernelTunables')).toBe('yes');
    // Node's JIT needs writable+executable memory.
    expect(svc('MemoryDenyWriteExecute')).toBeUndefined();
    const rw = (svc('ReadWritePaths') ?? '').split(/\s+/).map((p) => p.replace(/^-/, ''));
    expect(rw).toEqual(expect.arrayContaining(['/var/log/cmq-workers', '/var/lib/cmq-workers', '/run/cmq-workers']));
    expect(svc('ExecStart')).toMatch(
      /^\/opt\/cmq-workers\/bin\/cmq-(publisher|subscriber|pinger|console) --config-dir \/etc\/cmq-workers/,
    );

    expect(value(unit, 'Unit', 'PartOf')).toBe('cmq-workers.target');
    expect(value(unit, 'Install', 'WantedBy')).toBe('cmq-workers.target');
    const deps = ['rabbitmq-server.service', 'postgresql.service', 'redis-server.service'];
    expect(value(unit, 'Unit', 'After')?.split(/\s+/)).toEqual(
      expect.arrayContaining(['network-online.target', ...deps]),
    );
    expect(value(unit, 'Unit', 'Wants')?.split(/\s+/)).toEqual(expect.arrayContaining(deps));
    expect(value(unit, 'Unit', 'Requires')).toBeUndefined();
  });

  it('runs one subscriber per instance, reading subscriber-%i.properties', async () => {
    const unit = parseUnit(await readFile(join(UNITS, 'cmq-subscriber@.service'), 'utf8'));
    expect(value(unit, 'Service', 'ExecStart')).toBe(
      '/opt/cmq-workers/bin/cmq-subscriber --config-dir /etc/cmq-workers --instance %i',
    );
  });
});
