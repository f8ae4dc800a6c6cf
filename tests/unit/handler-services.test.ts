import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CmqError, type Database, type ProcessConfig, generateKeyLine } from '@cmq/common';
import type { SubscriberConfig } from '@cmq/config';
import { handlerServices } from '@cmq/subscriber';

/** Only what handlerServices reads; no connection is made here. */
function config(keysFile: string): ProcessConfig<SubscriberConfig> {
  return {
    km: { keys_file: keysFile, active_key_id: 'a' },
    provisioning: { ssh: { per_host_limit: 1, strict_host_keys: false } },
    own: { log: { dir: tmpdir() } },
  } as unknown as ProcessConfig<SubscriberConfig>;
}

const NO_DATABASE = {} as Database;

describe('handlerServices', () => {
  it('reads the keys file once for the handlers and for intake', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmq-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `${generateKeyLine('a')}\n`);
    const services = handlerServices(config(file), NO_DATABASE);
    const first = services.keyringIfSet();
    // Gone after the first read: every later ask is answered from the one read.
    rmSync(dir, { recursive: true });
    expect(first).toBeDefined();
    expect(services.ssh.keyring()).toBe(first);
    expect(services.cloud.keyring()).toBe(first);
    expect(services.keyringIfSet()).toBe(first);
  });

  it('gives intake no keyring when km.keys_file is unset, and the handlers the error naming it', () => {
    const services = handlerServices(config(''), NO_DATABASE);
    expect(services.keyringIfSet()).toBeUndefined();
    expect(() => services.ssh.keyring()).toThrow(CmqError);
    expect(() => services.cloud.keyring()).toThrow(/km\.keys_file/);
  });
});
