import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** File name → lines of `key=value`. */
export type ConfigFiles = Record<string, Record<string, string | number>>;

/**
 * A fresh temporary directory, world-traversable (services may run as another user). It lives
 * under the run's TMPDIR, which jest's global teardown removes (CMQ_KEEP_TEST_DIRS=1 keeps it).
 */
export function tempDir(prefix = 'cmq-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Writes properties files into `dir` (created when absent) and returns it. */
export function writeConfig(files: ConfigFiles, dir: string = tempDir()): string {
  for (const [file, values] of Object.entries(files)) {
    const text = Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    writeFileSync(join(dir, file), `${text}\n`);
  }
  return dir;
}

/** A config dir for all three processes, logging to `<dir>/log`, with quick heartbeats. */
export function serviceConfig(extra: ConfigFiles = {}, database = 'cmq'): { dir: string; logDir: string } {
  const dir = tempDir();
  const logDir = join(dir, 'log');
  const own = {
    'log.dir': logDir,
    'metrics.dir': join(dir, 'metrics'),
    'heartbeat.interval': '1s',
    'shutdown.drain_timeout': '5s',
  };
  const files: ConfigFiles = {
    'worker.properties': { 'db.database': database },
    'mq.cfg': { 'amqp.reconnect.initial_delay': '100ms', 'amqp.reconnect.max_delay': '1s' },
    // No scheduled log collection unless a test asks for it (guests would get collect actions),
    // and no scheduled cloud sync (accounts would get sync.* actions calling their providers).
    'publisher.properties': { ...own, 'logs.paths': '', 'sync.enabled': 'false' },
    'subscriber.properties': own,
    'pinger.properties': own,
    // The local cloud driver's servers live under the test's own directory.
    'provisioning.cfg': { 'cloud.local.state_dir': join(dir, 'local-cloud') },
  };
  for (const [file, values] of Object.entries(extra)) files[file] = { ...files[file], ...values };
  writeConfig(files, dir);
  return { dir, logDir };
}
