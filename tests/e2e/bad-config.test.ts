import { type Server, createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceConfig, tempDir, writeConfig } from '../helpers/config-dir';
import { logLines, runCmq, spawnBin, waitForLog } from '../helpers/process';
import { createTestDatabase, dropTestDatabase } from '../helpers/services';

/** A TCP listener that counts connections: proves a process did not try to connect. */
async function listener(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, connections: () => count };
}

describe.each(['publisher', 'subscriber', 'pinger'])('cmq-%s with bad configuration', (service) => {
  it('reports every problem with its file and key, exits 78, and connects to nothing', async () => {
    const broker = await listener();
    const db = await listener();
    const redis = await listener();
    try {
      const dir = writeConfig({
        'mq.cfg': { 'amqp.urls': `amqp://u:topsecret@127.0.0.1:${broker.port}`, 'amqp.hartbeat': '30s' },
        'worker.properties': { 'db.port': db.port, 'db.host': '', 'db.password': 'hunter2' },
        'persistence.properties': { 'redis.port': redis.port, 'redis.mode': 'cluster' },
        'provisioning.cfg': { SOURCE_CIDR: '10.0.0.0/33' },
        [`${service}.properties`]: { 'log.dir': join(tempDir(), 'log'), 'shutdown.drain_timeout': 'soon' },
      });
      const proc = spawnBin(service, ['--config-dir', dir], { CMQ_DB_STATEMENT_TIMEOUT: 'forever' });
      expect(await proc.exitCode()).toBe(78);
      const expected: Array<[string, string]> = [
        [join(dir, 'mq.cfg'), 'amqp.hartbeat: unknown key'],
        [join(dir, 'worker.properties'), 'db.host: must not be empty'],
        ['env CMQ_DB_STATEMENT_TIMEOUT', 'db.statement_timeout: must be a duration'],
        [join(dir, 'persistence.properties'), 'redis.mode: must be one of standalone, sentinel'],
        [join(dir, 'provisioning.cfg'), 'SOURCE_CIDR: "10.0.0.0/33" is not an IPv4 network'],
        [join(dir, `${service}.properties`), 'shutdown.drain_timeout: must be a duration'],
      ];
      for (const [source, text] of expected) expect(proc.stderr).toContain(`${source}: ${text}`);
      expect(proc.stderr).toContain('invalid configuration (6 problems)');
      expect(proc.stderr).not.toMatch(/topsecret|hunter2/);
      expect(proc.stdout).toBe('');
      expect([broker.connections(), db.connections(), redis.connections()]).toEqual([0, 0, 0]);
    } finally {
      for (const l of [broker, db, redis]) l.server.close();
    }
  });
});

describe('configuration edge cases', () => {
  it('refuses a config dir that does not exist, and an unwritable log dir, with exit 78', async () => {
    const missing = spawnBin('publisher', ['--config-dir', '/nonexistent/cmq']);
    expect(await missing.exitCode()).toBe(78);
    expect(missing.stderr).toContain('/nonexistent/cmq: (config dir): is not a directory');

    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const dir = writeConfig({
      'pinger.properties': { 'log.dir': join(file, 'log'), 'metrics.dir': join(tempDir(), 'metrics') },
    });
    const badLog = spawnBin('pinger', ['--config-dir', dir]);
    expect(await badLog.exitCode()).toBe(78);
    expect(badLog.stderr).toContain(`${join(dir, 'pinger.properties')}: log.dir:`);
  });

  it('a subscriber instance reads its own file and refuses prefetch below concurrency', async () => {
    const dir = writeConfig({
      'subscriber-fast.properties': { concurrency: 8, prefetch: 4, 'log.dir': join(tempDir(), 'log') },
    });
    const proc = spawnBin('subscriber', ['--config-dir', dir, '--instance', 'fast']);
    expect(await proc.exitCode()).toBe(78);
    expect(proc.stderr).toContain(
      `${join(dir, 'subscriber-fast.properties')}: prefetch: must be at least concurrency (8)`,
    );
  });

  it('instance "default" is subscriber.properties (what cmq-subscriber@default.service runs)', async () => {
    const dir = writeConfig({
      'subscriber.properties': { concurrency: 8, prefetch: 4, 'log.dir': join(tempDir(), 'log') },
    });
    const proc = spawnBin('subscriber', ['--config-dir', dir, '--instance', 'default']);
    expect(await proc.exitCode()).toBe(78);
    expect(proc.stderr).toContain(`${join(dir, 'subscriber.properties')}: prefetch: must be at least concurrency (8)`);
  });

  it('a bad command line exits 64 with the usage', async () => {
    const proc = spawnBin('publisher', ['--config-dri', '/etc']);
    expect(await proc.exitCode()).toBe(64);
    expect(proc.stderr).toContain('usage: cmq-publisher');
  });
});

describe('schema check at start-up', () => {
  let database: string;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await dropTestDatabase(database);
  });

  it('refuses to run against a database without the schema, saying to run cmq migrate, until migrated', async () => {
    const { dir } = serviceConfig({}, database);
    const refused = spawnBin('subscriber', ['--config-dir', dir]);
    expect(await refused.exitCode()).toBe(78);
    const log = logLines(join(dir, 'log', 'subscriber-default.log'));
    expect(log.some((l) => l.level === 'fatal' && String(l.msg).includes('run `cmq migrate`'))).toBe(true);

    expect((await runCmq(['migrate', '--config-dir', dir])).code).toBe(0);
    const again = await runCmq(['migrate', '--config-dir', dir]);
    expect(again.stdout).not.toContain('applied');
    const ok = spawnBin('subscriber', ['--config-dir', dir]);
    try {
      await waitForLog(join(dir, 'log', 'subscriber-default.log'), (l) => l.msg === 'state running');
    } finally {
      ok.kill('SIGTERM');
    }
    expect(await ok.exitCode()).toBe(0);
  });

  it('cmq migrate --create-database creates a missing database', async () => {
    const name = `${database}_new`;
    const { dir } = serviceConfig({}, name);
    try {
      const res = await runCmq(['migrate', '--create-database', '--config-dir', dir]);
      expect(res.stdout).toContain(`created database ${name}`);
      expect(res.stdout).toMatch(/is at schema version [1-9]/);
    } finally {
      await dropTestDatabase(name);
    }
  });
});
