import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceConfig, tempDir, writeConfig } from '../helpers/config-dir';
import { ROOT, logLines, runCmq, spawnBin, waitForLog } from '../helpers/process';
import { createTestDatabase, dropTestDatabase } from '../helpers/services';
import { ACTION_DEFINITIONS } from '@cmq/actions';

describe('cmq call --help', () => {
  it('lists every action type with its family, least mode and description, from the definitions', async () => {
    const res = await runCmq(['call', '--help']);
    expect(res.code).toBe(0);
    for (const d of ACTION_DEFINITIONS)
      expect(res.stdout).toMatch(new RegExp(`^  ${d.type.replace(/\./g, '\\.')} +\\[${d.family}, mode=${d.mode}`, 'm'));
    expect(res.stdout).toMatch(/server\.terminate +\[provision, mode=dynamic, destructive\] terminates a server/);
  });
});

describe('cmq config', () => {
  it('check prints the effective configuration of every file with every secret masked', async () => {
    const dir = writeConfig({
      'mq.cfg': { 'amqp.urls': 'amqp://ops:s3cr3t-amqp@10.1.2.3:5672,amqps://ops:s3cr3t-amqp@10.1.2.4:5671' },
      'worker.properties': { 'db.password': 's3cr3t-db' },
      'persistence.properties': { 'redis.password': 's3cr3t-redis' },
      'mq.cfg.bak': { ignored: 'yes' },
      'subscriber-slow.properties': { queues: 'provision', concurrency: 2, prefetch: 4 },
    });
    const res = await runCmq(['config', 'check', '--config-dir', dir]);
    expect(res.code).toBe(0);
    expect(res.stdout + res.stderr).not.toMatch(/s3cr3t/);
    expect(res.stdout).toContain('amqp.urls=amqp://ops:****@10.1.2.3:5672,amqps://ops:****@10.1.2.4:5671');
    expect(res.stdout).toContain('db.password=****');
    expect(res.stdout).toContain('redis.password=****');
    expect(res.stdout).toContain(
      `# ${join(dir, 'subscriber-slow.properties')}\nname=slow\nlog.dir=/var/log/cmq-workers`,
    );
    expect(res.stdout).toContain('queues=provision\n');
    expect(res.stdout).toContain(`# ${join(dir, 'pinger.properties')} (absent: defaults)`);
    expect(res.stdout).toContain(`# ${join(dir, 'console.properties')} (absent: defaults)`);
    expect(res.stdout).toMatch(/configuration OK: 10 files checked/);
  });

  it('check exits 78 listing every problem; an invalid secret is named but never shown', async () => {
    const dir = writeConfig({
      'mq.cfg': { 'amqp.urls': 'http://ops:s3cr3t-amqp@10.1.2.3' },
      'pinger.properties': { 'heartbeat.interval': '1ms' },
    });
    const res = await runCmq(['config', 'check', '--config-dir', dir]);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`${join(dir, 'mq.cfg')}: amqp.urls: an entry has scheme "http:"`);
    expect(res.stderr).toContain(
      `${join(dir, 'pinger.properties')}: heartbeat.interval: must be a duration from 200ms`,
    );
    expect(res.stderr).not.toMatch(/s3cr3t/);
  });

  it('pg-env prints shell exports that a script can eval; the password only with --with-password', async () => {
    const dir = writeConfig({ 'worker.properties': { 'db.host': 'db.example', 'db.password': "it's" } });
    const exports =
      "export PGHOST='db.example'\nexport PGPORT='5432'\nexport PGDATABASE='cmq'\nexport PGUSER='postgres'\n";
    const plain = await runCmq(['config', 'pg-env', '--config-dir', dir]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(exports);
    expect(plain.stderr).toBe('cmq: db.password is set but not printed; add --with-password to export PGPASSWORD\n');
    const res = await runCmq(['config', 'pg-env', '--with-password', '--config-dir', dir]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${exports}export PGPASSWORD='it'\\''s'\n`);
    expect(res.stderr).toBe('');
  });

  it('the samples in etc/ are the ones the schemas generate (run `npm run samples` when this fails)', async () => {
    const out = tempDir();
    const res = await runCmq(['config', 'samples', '--write', out]);
    expect(res.code).toBe(0);
    const generated = readdirSync(out).sort();
    const committed = readdirSync(join(ROOT, 'etc'))
      .filter((f) => /\.(cfg|properties)$/.test(f))
      .sort();
    expect(committed).toEqual(generated);
    for (const file of generated) {
      expect(`${file}:\n${readFileSync(join(ROOT, 'etc', file), 'utf8')}`).toBe(
        `${file}:\n${readFileSync(join(out, file), 'utf8')}`,
      );
    }
  });

  it('the committed samples load as a valid configuration', async () => {
    const res = await runCmq(['config', 'check', '--config-dir', join(ROOT, 'etc')]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });
});

describe('fatal errors', () => {
  let database: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    const { dir } = serviceConfig({}, database);
    expect((await runCmq(['migrate', '--config-dir', dir])).code).toBe(0);
  });
  afterAll(async () => {
    await dropTestDatabase(database);
  });

  it('an uncaught exception is logged as fatal and the process exits 70 after a short shutdown', async () => {
    const { dir, logDir } = serviceConfig({}, database);
    // Preloaded into the real bin: throws from a timer when told to (SIGUSR2), once the process runs.
    const crash = join(tempDir(), 'crash.js');
    writeFileSync(
      crash,
      "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('boom from a timer'); }));\n",
    );
    const proc = spawnBin('publisher', ['--config-dir', dir], {}, ['-r', crash]);
    const log = join(logDir, 'publisher-main.log');
    await waitForLog(log, (l) => l.msg === 'state running');
    proc.child.kill('SIGUSR2');
    expect(await proc.exitCode()).toBe(70);
    const lines = logLines(log);
    expect(lines.some((l) => l.level === 'fatal' && l.msg === 'fatal: boom from a timer')).toBe(true);
    expect(lines.some((l) => l.msg === 'component closed' && l.component === 'amqp')).toBe(true);
  });
});
