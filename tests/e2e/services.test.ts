import { existsSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { serviceConfig } from '../helpers/config-dir';
import { NotifySocket } from '../helpers/notify-socket';
import { type Spawned, logLines, runCmq, spawnBin, waitForLog } from '../helpers/process';
import { brokerConnections, closeBrokerConnections, createTestDatabase, dropTestDatabase } from '../helpers/services';
import { waitFor } from '../helpers/wait';

let database: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const { dir } = serviceConfig({}, database);
  const migrated = await runCmq(['migrate', '--config-dir', dir]);
  expect(migrated.code).toBe(0);
});

afterAll(async () => {
  await dropTestDatabase(database);
});

describe.each(['publisher', 'subscriber', 'pinger'])('cmq-%s', (service) => {
  let notify: NotifySocket;
  let proc: Spawned | undefined;

  beforeEach(() => {
    notify = new NotifySocket();
  });

  afterEach(() => {
    proc?.kill();
    notify.close();
  });

  it('notifies READY, survives log rotation with SIGHUP, reconnects to the broker, drains on SIGTERM', async () => {
    const { dir, logDir } = serviceConfig({}, database);
    const name = service === 'subscriber' ? 'default' : 'main';
    const logFile = join(logDir, `${service}-${name}.log`);
    proc = spawnBin(service, ['--config-dir', dir], { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '1000000' });

    await notify.waitFor('READY=1');
    await notify.waitFor('WATCHDOG=1');
    await waitForLog(logFile, (l) => l.msg === 'state running');

    // logrotate: rename, then HUP; a new file appears and the process lives on.
    renameSync(logFile, `${logFile}.1`);
    proc.child.kill('SIGHUP');
    await waitFor(() => existsSync(logFile), 10_000, 'a new log file after SIGHUP');
    await waitForLog(logFile, (l) => l.msg === 'heartbeat');
    expect(proc.alive()).toBe(true);

    // Cut the broker connection from the broker's side: the process says what it waits for,
    // reconnects, and declares its topology again.
    const marker = `cmq-${service}-${name}@${hostname()}:${proc.pid}`;
    await waitFor(async () => (await brokerConnections(marker)).some(Boolean), 20_000, 'the broker connection');
    const before = logLines(logFile).filter((l) => l.msg === 'connected to broker').length;
    expect(await closeBrokerConnections(marker)).toBeGreaterThan(0);
    await waitFor(
      () => notify.statuses().some((s) => s.startsWith('waiting for broker at amqp://127.0.0.1:5672')),
      20_000,
      'STATUS waiting for broker',
    );
    await waitFor(
      () => logLines(logFile).filter((l) => l.msg === 'connected to broker').length > before,
      20_000,
      'a reconnection',
    );
    await waitFor(() => notify.statuses().at(-1)?.startsWith('running') === true, 20_000, 'STATUS back to running');
    expect(proc.alive()).toBe(true);

    const stoppingAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exitCode(10_000)).toBe(0);
    expect(Date.now() - stoppingAt).toBeLessThan(5_000);
    expect(notify.has('STOPPING=1')).toBe(true);
    const lines = logLines(logFile);
    expect(lines.at(-1)?.msg).toBe('state stopped');
  });
});
