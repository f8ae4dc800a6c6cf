import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { type ConfigFiles, serviceConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { PrivateBroker } from '../helpers/private-broker';
import { PgCluster, RedisServer, freePort } from '../helpers/private-servers';
import { ROOT, Spawned, execFileP, logLines, runCmq, spawnBin } from '../helpers/process';
import { TestPki } from '../helpers/test-pki';
import { waitFor } from '../helpers/wait';

// A remote subscriber needs only certificates (issue 20, docs/scale-out.md): RabbitMQ over
// amqps:// with EXTERNAL authentication (the broker user is the certificate's CN, which has no
// password), PostgreSQL over TLS (verify-full) authenticated by its client certificate, Redis over
// TLS with client certificates required. Every server is the test's own (own ports and
// directories) and trusts only a CA the test makes. As root the subscriber runs in a network
// namespace of its own, reaching the servers only across a veth pair: a second host.

const AMQP_PORT = 5675; // the publisher's plain listener (guest); distribution port 25675
const AMQPS_PORT = 5695;
const USER = 'worker-remote-1';
const TOTAL = 300;
const tenants = ['t1'];
const tag = randomBytes(2).toString('hex');
const NETNS = `cmqtls${tag}`;
const asRoot = process.getuid?.() === 0;
// A /30 of 10.77.0.0/16 per run; without root the "remote" subscriber shares the host's network.
const subnet = `10.77.${parseInt(tag, 16) % 64}`;
const SERVER_IP = asRoot ? `${subnet}.1` : '127.0.0.1';
const REMOTE_IP = asRoot ? `${subnet}.2` : '127.0.0.1';

let pki: TestPki;
let broker: PrivateBroker;
let pg: PgCluster;
let redisServer: RedisServer;
let redisPort: number;
let redisTlsPort: number;
let p: Pipeline;
let redis: Redis;
const started: Spawned[] = [];

async function ip(...args: string[]): Promise<void> {
  await execFileP('ip', args, { timeout: 10_000 });
}

/** The namespace and veth pair: SERVER_IP on the host's end, REMOTE_IP on the namespace's. */
async function makeNetns(): Promise<void> {
  await ip('netns', 'add', NETNS);
  await ip('link', 'add', `cmqt${tag}h`, 'type', 'veth', 'peer', 'name', `cmqt${tag}n`);
  await ip('link', 'set', `cmqt${tag}n`, 'netns', NETNS);
  await ip('addr', 'add', `${SERVER_IP}/30`, 'dev', `cmqt${tag}h`);
  await ip('link', 'set', `cmqt${tag}h`, 'up');
  await ip('netns', 'exec', NETNS, 'ip', 'addr', 'add', `${REMOTE_IP}/30`, 'dev', `cmqt${tag}n`);
  await ip('netns', 'exec', NETNS, 'ip', 'link', 'set', `cmqt${tag}n`, 'up');
  await ip('netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up');
}

async function startBroker(): Promise<void> {
  const listeners = [...new Set(['127.0.0.1', SERVER_IP])].map((a, i) => `listeners.ssl.${i + 1} = ${a}:${AMQPS_PORT}`);
  broker = await PrivateBroker.start('cmq-tls', AMQP_PORT, {
    plugins: ['rabbitmq_auth_mechanism_ssl'],
    conf: [
      ...listeners,
      `ssl_options.cacertfile = ${pki.cert('ca')}`,
      `ssl_options.certfile = ${pki.cert('server')}`,
      `ssl_options.keyfile = ${pki.key('server')}`,
      'ssl_options.verify = verify_peer',
      'ssl_options.fail_if_no_peer_cert = true',
      'auth_mechanisms.1 = EXTERNAL',
      'auth_mechanisms.2 = PLAIN', // the publisher's guest on the plain listener
      'ssl_cert_login_from = common_name',
    ],
  });
  await broker.ctl('add_user', USER, randomBytes(12).toString('hex'));
  await broker.ctl('clear_password', USER);
  // cmq.* plus the exclusive, server-named queues (amq.gen-*) that control replies and
  // broadcasts use: only the connection that declared one can use it (docs/scale-out.md).
  const mine = '^(cmq\\.|amq\\.gen-)';
  await broker.ctl('set_permissions', '-p', '/', USER, mine, mine, mine);
}

/** PostgreSQL with ssl=on: TLS connections authenticate by certificate (CN mapped to postgres). */
async function startPostgres(): Promise<void> {
  pg = new PgCluster(await freePort());
  await pg.init();
  const data = join(pg.dir, 'data');
  for (const [from, to] of [
    [pki.cert('server'), 'server.crt'],
    [pki.key('server'), 'server.key'],
    [pki.cert('ca'), 'root.crt'],
  ] as const) {
    copyFileSync(from, join(data, to));
    chmodSync(join(data, to), 0o600);
    if (asRoot) chownSync(join(data, to), ...postgresIds());
  }
  writeFileSync(
    join(data, 'pg_hba.conf'),
    'local all all trust\nhostssl all all 0.0.0.0/0 cert map=cmq\nhostnossl all all 127.0.0.1/32 trust\n',
  );
  writeFileSync(join(data, 'pg_ident.conf'), `cmq ${USER} postgres\n`);
  await pg.start([
    `listen_addresses=${[...new Set(['127.0.0.1', SERVER_IP])].join(',')}`,
    'ssl=on',
    'ssl_cert_file=server.crt',
    'ssl_key_file=server.key',
    'ssl_ca_file=root.crt',
  ]);
}

function postgresIds(): [number, number] {
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres']));
  return [id('-u'), id('-g')];
}

async function startRedis(): Promise<void> {
  redisPort = await freePort();
  redisTlsPort = await freePort();
  redisServer = new RedisServer(redisPort, undefined, [
    '--bind',
    [...new Set(['127.0.0.1', SERVER_IP])].join(' '),
    '--tls-port',
    String(redisTlsPort),
    '--tls-cert-file',
    pki.cert('server'),
    '--tls-key-file',
    pki.key('server'),
    '--tls-ca-cert-file',
    pki.cert('ca'),
    '--tls-auth-clients',
    'yes',
    // Protected mode refuses every non-loopback client of a server without a password: here the
    // client certificate is what authenticates (docs/scale-out.md).
    '--protected-mode',
    'no',
  ]);
  await redisServer.start();
}

/** The remote host's config files: certificates, no password anywhere. `mq`, `db`, `redis` override. */
function remoteConfig(over: { mq?: ConfigFiles[string]; db?: ConfigFiles[string]; redis?: ConfigFiles[string] } = {}) {
  return serviceConfig(
    {
      'mq.cfg': {
        'amqp.urls': `amqps://${SERVER_IP}:${AMQPS_PORT}`,
        'amqp.vhost': '/',
        'amqp.tls.ca': pki.cert('ca'),
        'amqp.tls.cert': pki.cert('remote'),
        'amqp.tls.key': pki.key('remote'),
        'amqp.tls.external': 'true',
        ...over.mq,
      },
      'worker.properties': {
        'db.host': SERVER_IP,
        'db.port': pg.port,
        'db.database': p.database,
        'db.ssl.mode': 'verify-full',
        'db.ssl.ca': pki.cert('ca'),
        'db.ssl.cert': pki.cert('remote'),
        'db.ssl.key': pki.key('remote'),
        ...over.db,
      },
      'persistence.properties': {
        'redis.host': SERVER_IP,
        'redis.port': redisTlsPort,
        'redis.tls.enabled': 'true',
        'redis.tls.ca': pki.cert('ca'),
        'redis.tls.cert': pki.cert('remote'),
        'redis.tls.key': pki.key('remote'),
        ...over.redis,
      },
    },
    p.database,
  );
}

/** The subscriber on `dir`: in the namespace as root, else here. */
function remoteSubscriber(dir: string, inNamespace = asRoot): Spawned {
  const proc = inNamespace
    ? new Spawned(
        spawn(
          'ip',
          [
            'netns',
            'exec',
            NETNS,
            process.execPath,
            resolve(ROOT, 'services/subscriber/dist/main.js'),
            '--config-dir',
            dir,
          ],
          { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      )
    : spawnBin('subscriber', ['--config-dir', dir]);
  started.push(proc);
  return proc;
}

beforeAll(async () => {
  if (asRoot) await makeNetns();
  pki = await TestPki.create(['localhost', '127.0.0.1', ...(asRoot ? [SERVER_IP] : [])]);
  await pki.client('remote', USER);
  await pki.client('rogue', USER, 'other-ca');
  await Promise.all([startBroker(), startPostgres(), startRedis()]);
  p = await Pipeline.create({
    pgPort: pg.port,
    config: {
      'mq.cfg': { 'amqp.urls': `amqp://guest:guest@127.0.0.1:${AMQP_PORT}`, 'amqp.vhost': '/' },
      'persistence.properties': { 'redis.port': redisPort },
    },
  });
  await p.addTenants(...tenants);
  redis = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true });
  redis.on('error', () => undefined);
  await redis.connect();
}, 180_000);

afterAll(async () => {
  for (const proc of started) proc.kill('SIGKILL');
  await Promise.all(started.map((s) => s.exited));
  redis?.disconnect();
  await p?.destroy().catch(() => undefined);
  await Promise.all([broker?.stop(), pg?.remove(), redisServer?.kill()]);
  if (asRoot) await ip('netns', 'del', NETNS).catch(() => undefined);
}, 90_000);

it('a subscriber with certificates and no passwords runs actions end to end, from its own network namespace', async () => {
  const ids = await p.submit(
    Array.from({ length: TOTAL }, () => ({ type: 'noop', tenant: 't1', args: { count: true } })),
  );
  const { dir, logDir } = remoteConfig();
  const sub = remoteSubscriber(dir);
  p.start('publisher');
  await p.allFinal(60_000).catch((err: Error) => {
    const seen = logLines(join(logDir, 'subscriber-default.log')).map((l) =>
      `${String(l.msg)} ${JSON.stringify(l.err ?? '')}`.slice(-200),
    );
    throw new Error(`${err.message}; subscriber: ${seen.slice(-15).join(' | ')}; stderr: ${sub.stderr}`);
  });
  expect(await p.states()).toEqual({ succeeded: TOTAL });
  expect(await p.onceEach(redis, tenants, ids)).toEqual({ neverRan: [], notCommittedOnce: [] });
  expect(sub.alive()).toBe(true);

  // The broker knows it as the certificate's user, from the namespace's own address.
  const connections = await broker.ctl('list_connections', 'user', 'peer_host', 'auth_mechanism', 'ssl');
  expect(connections).toContain(`${USER}\t${REMOTE_IP}\tEXTERNAL\ttrue`);
  // The certificates expire in 2 days, within tls.expiry_warning_days (14): log, heartbeat and cmq check say so.
  const warning = `certificate ${pki.cert('remote')} (amqp.tls.cert, db.ssl.cert, redis.tls.cert) expires on`;
  const log = logLines(join(logDir, 'subscriber-default.log'));
  expect(log.some((l) => String(l.msg).includes(warning))).toBe(true);
  const keys = await redis.keys('cmq:heartbeat:subscriber:*');
  const waiting = await Promise.all(keys.map((k) => redis.hget(k, 'waiting')));
  expect(waiting.some((w) => w?.includes(warning))).toBe(true);
  const check = await runCmq(['check', '--config-dir', p.dir]);
  // (cmq check cuts each text short: the CA's warning comes first.)
  expect(check.stdout).toContain(`certificate ${pki.cert('ca')} (amqp.tls.ca, db.ssl.ca, redis.tls.ca) expires on`);
}, 120_000);

it('a certificate user permitted only cmq.* (and its own amq.gen- queues) cannot declare or read anything else', async () => {
  // The guest user makes a queue outside cmq.* that the certificate user must not read.
  const admin = await amqp.connect(`amqp://guest:guest@127.0.0.1:${AMQP_PORT}`);
  const adminCh = await admin.createChannel();
  await adminCh.assertQueue('other.read', { durable: false });
  adminCh.sendToQueue('other.read', Buffer.from('secret'));
  const conn = await amqp.connect(`amqps://127.0.0.1:${AMQPS_PORT}`, {
    ca: [readFileSync(pki.cert('ca'))],
    cert: readFileSync(pki.cert('remote')),
    key: readFileSync(pki.key('remote')),
    credentials: amqp.credentials.external(),
  });
  conn.on('error', () => undefined);
  try {
    const refused = async (use: (ch: amqp.Channel) => Promise<unknown>): Promise<string> => {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      return use(ch).then(
        () => 'allowed',
        (err: Error) => err.message,
      );
    };
    expect(await refused((ch) => ch.assertQueue('cmq.tls-probe', { durable: false, autoDelete: true }))).toBe(
      'allowed',
    );
    expect(await refused((ch) => ch.assertQueue('other.q', { durable: false }))).toMatch(/ACCESS_REFUSED.*other\.q/);
    expect(await refused((ch) => ch.assertExchange('other.x', 'topic'))).toMatch(/ACCESS_REFUSED.*other\.x/);
    expect(await refused((ch) => ch.get('other.read'))).toMatch(/ACCESS_REFUSED.*other\.read/);
    expect(await refused((ch) => ch.consume('other.read', () => undefined))).toMatch(/ACCESS_REFUSED.*other\.read/);
  } finally {
    await conn.close().catch(() => undefined);
    await admin.close().catch(() => undefined);
  }
}, 60_000);

/** Case name, what the remote config overrides, and the text its waiting log line must hold. */
const REFUSED: Array<[string, () => Parameters<typeof remoteConfig>[0], RegExp]> = [
  [
    'no client certificate (broker)',
    () => ({ mq: { 'amqp.tls.cert': '', 'amqp.tls.key': '', 'amqp.tls.external': 'false' } }),
    /waiting for broker at amqps:.*certificate required/i,
  ],
  [
    'a client certificate of another CA (broker)',
    () => ({ mq: { 'amqp.tls.cert': pki.cert('rogue'), 'amqp.tls.key': pki.key('rogue') } }),
    /waiting for broker at amqps:.*(bad certificate|unknown ca)/i,
  ],
  [
    'a CA that did not sign the broker certificate',
    () => ({ mq: { 'amqp.tls.ca': pki.cert('other-ca') } }),
    /waiting for broker at amqps:.*self.signed certificate in certificate chain/i,
  ],
  [
    'no client certificate (PostgreSQL)',
    () => ({ db: { 'db.ssl.cert': '', 'db.ssl.key': '' } }),
    /waiting for database at .*(certificate|no pg_hba.conf entry)/i,
  ],
  [
    'a CA that did not sign the Redis certificate',
    () => ({ redis: { 'redis.tls.ca': pki.cert('other-ca') } }),
    /waiting for redis.*self.signed certificate in certificate chain/i,
  ],
];

it.each(REFUSED)(
  'refuses %s, saying what failed',
  async (_name, over, expected) => {
    const { dir, logDir } = remoteConfig(over());
    const sub = remoteSubscriber(dir);
    const file = join(logDir, 'subscriber-default.log');
    try {
      await waitFor(() => logLines(file).some((l) => expected.test(String(l.msg))), 20_000, `${expected}`).catch(
        (err: Error) => {
          const seen = logLines(file).map((l) => `${String(l.msg)} ${JSON.stringify(l.err ?? '')}`.slice(-400));
          throw new Error(`${err.message}; log: ${seen.slice(-8).join(' | ')}; stderr: ${sub.stderr}`);
        },
      );
      expect(sub.alive()).toBe(true); // it waits and retries, it does not run without the dependency
      expect(logLines(file).some((l) => l.msg === 'state running')).toBe(false);
    } finally {
      sub.kill('SIGKILL');
    }
  },
  45_000,
);
