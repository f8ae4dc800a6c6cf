import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigError,
  type FileSpec,
  type LeafSchema,
  SHARED_FILES,
  display,
  loadFiles,
  parseProperties,
  renderSample,
  walkSchema,
} from '@cmq/common';
import { pingerFile, publisherFile, subscriberFile } from '@cmq/config';
import { tempDir, writeConfig } from '../helpers/config-dir';

const ALL_FILES: FileSpec[] = [...SHARED_FILES, publisherFile(), subscriberFile(), pingerFile()];

/** Per file: a typo'd key, a key with a bad value, a required key left empty. */
const BAD: Record<string, { typo: string; bad: [string, string]; missing: string }> = {
  'mq.cfg': { typo: 'amqp.vhots', bad: ['amqp.heartbeat', 'fast'], missing: 'amqp.urls' },
  'worker.properties': { typo: 'db.hots', bad: ['db.port', 'port'], missing: 'db.database' },
  'persistence.properties': { typo: 'redis.prot', bad: ['redis.db', '16'], missing: 'redis.host' },
  'km-client.cfg': { typo: 'km.key_file', bad: ['km.keys_file', 'keys.txt'], missing: 'km.active_key_id' },
  'provisioning.cfg': { typo: 'mod', bad: ['ssh.strict_host_keys', 'maybe'], missing: 'SOURCE_CIDR' },
  'publisher.properties': { typo: 'log.dri', bad: ['log.level', 'loud'], missing: 'name' },
  'subscriber.properties': { typo: 'queue', bad: ['concurrency', '0'], missing: 'queues' },
  'pinger.properties': { typo: 'heartbeat.intervall', bad: ['heartbeat.interval', '0.1ms'], missing: 'log.dir' },
};

function issuesOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('properties parsing', () => {
  it('nests dotted keys and follows Java syntax (separators, continuations, escapes, comments)', () => {
    const text = [
      '# comment',
      '! also a comment',
      'amqp.urls = amqp://a:5672,\\',
      '    amqp://b:5672',
      'amqp.vhost:/prod',
      'name value with spaces',
      'path=C\\:\\\\x',
      'uni=\\u00e9',
    ].join('\n');
    const { values, clashes } = parseProperties(text);
    expect(values).toEqual({
      amqp: { urls: 'amqp://a:5672,amqp://b:5672', vhost: '/prod' },
      name: 'value with spaces',
      path: 'C:\\x',
      uni: 'é',
    });
    expect(clashes).toEqual([]);
  });

  it('reports a key that clashes with a prefix of another', () => {
    expect(parseProperties('db=x\ndb.host=y').clashes).toEqual(['db.host']);
  });
});

describe.each(ALL_FILES.map((s) => [s.file, s] as const))('%s', (_file, spec: FileSpec) => {
  it('loads with every key written out at its default, and with the file absent', () => {
    const lines: string[] = [];
    walkSchema(spec.schema, (key, leaf: LeafSchema) => lines.push(`${key}=${display(leaf, leaf.default)}`));
    const dir = tempDir();
    writeFileSync(join(dir, spec.file), lines.join('\n'));
    const written = loadFiles(dir, [spec], {}).get(spec.file)?.value;
    const absent = loadFiles(tempDir(), [spec], {}).get(spec.file);
    expect(absent?.exists).toBe(false);
    expect(written).toEqual(absent?.value);
  });

  it('loads its generated sample (every key commented out)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, spec.file), renderSample(spec));
    expect(loadFiles(dir, [spec], {}).get(spec.file)?.exists).toBe(true);
  });

  it('reports a typo, a bad value and a missing value in one run, each with file and key', () => {
    const { typo, bad, missing } = BAD[spec.file] as (typeof BAD)[string];
    const dir = writeConfig({ [spec.file]: { [typo]: '1', [bad[0]]: bad[1], [missing]: '' } });
    const err = issuesOf(() => loadFiles(dir, [spec], {}));
    const path = join(dir, spec.file);
    expect(err.code).toBe('CMQ_ERR_CONFIG');
    expect(err.issues).toEqual(
      expect.arrayContaining([
        { source: path, key: typo, message: expect.stringContaining('unknown key') as string },
        { source: path, key: bad[0], message: expect.stringMatching(/^must be/) as string },
        { source: path, key: missing, message: expect.stringMatching(/^must/) as string },
      ]),
    );
    expect(err.issues).toHaveLength(3);
    expect(err.message).toContain(`${path}: ${bad[0]}: must be`);
  });
});

describe('loadFiles', () => {
  it('environment overrides beat the file, and a bad override names the variable', () => {
    const dir = writeConfig({ 'worker.properties': { 'db.host': 'from-file', 'db.port': '6543' } });
    const spec = SHARED_FILES.find((s) => s.file === 'worker.properties') as FileSpec;
    const value = loadFiles(dir, [spec], { CMQ_DB_HOST: 'from-env' }).get(spec.file)?.value as {
      db: { host: string; port: number };
    };
    expect(value.db).toMatchObject({ host: 'from-env', port: 6543 });
    const err = issuesOf(() => loadFiles(dir, [spec], { CMQ_DB_PORT: '12abc' }));
    expect(err.issues).toEqual([
      { source: 'env CMQ_DB_PORT', key: 'db.port', message: 'must be an integer from 1 to 65535: value was "12abc"' },
    ]);
  });

  it('collects problems across files and freezes the result', () => {
    const dir = writeConfig({
      'mq.cfg': { 'amqp.heartbeat': '-1s' },
      'persistence.properties': { 'redis.mode': 'sentinel' },
    });
    const err = issuesOf(() => loadFiles(dir, SHARED_FILES, {}));
    expect(err.issues.map((i) => `${i.source.replace(dir, '')}:${i.key}`)).toEqual([
      '/mq.cfg:amqp.heartbeat',
      '/persistence.properties:redis.sentinels',
    ]);
    const ok = loadFiles(tempDir(), SHARED_FILES, {}).get('mq.cfg')?.value as { amqp: { urls: string[] } };
    expect(Object.isFrozen(ok.amqp.urls)).toBe(true);
  });

  it('reports a malformed file (bad \\u escape) instead of throwing', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'mq.cfg'), 'amqp.vhost=\\uZZZZ\n');
    const err = issuesOf(() => loadFiles(dir, SHARED_FILES, {}));
    expect(err.issues[0]).toMatchObject({ source: join(dir, 'mq.cfg'), key: '(file)' });
  });

  it('provisioning.cfg cloud.local.login_user: empty or a POSIX user name (it goes into sshd_config AllowUsers)', () => {
    const spec = SHARED_FILES.find((s) => s.file === 'provisioning.cfg') as FileSpec;
    for (const bad of ['root bob', 'a*', 'Bob', 'x.y', '-x', 'a'.repeat(33)]) {
      const dir = writeConfig({ 'provisioning.cfg': { 'cloud.local.login_user': bad } });
      const err = issuesOf(() => loadFiles(dir, [spec], {}));
      expect(err.issues).toEqual([
        {
          source: join(dir, 'provisioning.cfg'),
          key: 'cloud.local.login_user',
          message: expect.stringMatching(/^must be a user name/) as string,
        },
      ]);
    }
    for (const good of ['', 'cmq', 'root', '_svc-1']) {
      const value = loadFiles(writeConfig({ 'provisioning.cfg': { 'cloud.local.login_user': good } }), [spec], {}).get(
        spec.file,
      )?.value as { cloud: { local: { login_user: string } } };
      expect(value.cloud.local.login_user).toBe(good);
    }
  });

  it('never echoes a sensitive value in an error', () => {
    const dir = writeConfig({ 'mq.cfg': { 'amqp.urls': 'amqp://u:pw-SECRET@', 'amqp.tls.cert': '/c.pem' } });
    const err = issuesOf(() => loadFiles(dir, SHARED_FILES, {}));
    expect(err.message).toContain('amqp.urls');
    expect(err.message).not.toContain('pw-SECRET');
  });
});
