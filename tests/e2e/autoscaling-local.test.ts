import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalDriver } from '@cmq/drivers';
import { countActions } from '../helpers/actions';
import { FakeEc2 } from '../helpers/fake-ec2';
import { tempDir, writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { ROOT, logLines, runCmq, waitForLog } from '../helpers/process';
import { freePort } from '../helpers/private-servers';
import { type KeyPair, SSH_TEST_USER, makeKeyPair } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

/**
 * Autoscaling end to end on the `local` cloud: real sshd "servers", real subscribers started on
 * them over SSH (node.start, as the servers' login user), real RabbitMQ, PostgreSQL and Redis.
 * Timings are seconds (stabilization, cool-downs) so the whole story takes well under a minute.
 */
const REDIS_DB = 13;
const TENANT = 'acme';
const FLOOD = 3_000;

let pipe: Pipeline;
let key: KeyPair;
let sshPort: number;
let account: string;
let fleetDir: string;
let fake: FakeEc2 | undefined;

function cmq(args: string[]) {
  return runCmq([...args, '--config-dir', pipe.dir]);
}

function localCloud(): LocalDriver {
  return new LocalDriver({
    stateDir: join(pipe.dir, 'local-cloud'),
    account,
    authorizedKey: key.publicKey,
    sshPort,
    loginUser: SSH_TEST_USER,
  });
}

function ensureTestUser(): void {
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--password', '*', SSH_TEST_USER]);
  }
}

/**
 * The configuration a fleet subscriber starts with on a server: the pipeline's database, vhost
 * and Redis, logs in a directory its login user may write. Its name, queues and concurrency
 * come from the policy through the start command ({server}, {queues}, {concurrency}).
 */
function writeFleetConfig(): string {
  const dir = tempDir('cmq-fleet-');
  for (const sub of ['log', 'metrics', 'run']) {
    mkdirSync(join(dir, sub));
    chmodSync(join(dir, sub), 0o777);
  }
  writeConfig(
    {
      'worker.properties': { 'db.database': pipe.database },
      'mq.cfg': { 'amqp.vhost': pipe.vhost, 'amqp.reconnect.initial_delay': '100ms' },
      'persistence.properties': { 'redis.db': REDIS_DB },
      'subscriber.properties': {
        'log.dir': join(dir, 'log'),
        'metrics.dir': join(dir, 'metrics'),
        'heartbeat.interval': '1s',
        'shutdown.drain_timeout': '10s',
      },
    },
    dir,
  );
  return dir;
}

function policyFields(): string[] {
  const bin = join(ROOT, 'services/subscriber/dist/main.js');
  const pid = `${fleetDir}/run/{server}.pid`;
  return [
    'families=control',
    `account=${account}`,
    'concurrency=4',
    'min=0',
    'max=3',
    'target_wait_s=2',
    'age_high_s=60',
    'step_up_max=3',
    'step_down_max=1',
    'stabilization_s=3',
    'cooldown_out_s=3',
    'cooldown_in_s=1',
    'idle_to_zero_s=3',
    'launches_per_hour=10',
    'rate_per_slot=5',
    'stale_after_s=30',
    'drain_timeout_s=30',
    'orphan_grace_s=4',
    `start_cmd=CMQ_SUBSCRIBER_NAME={server} CMQ_SUBSCRIBER_QUEUES={queues} CMQ_SUBSCRIBER_CONCURRENCY={concurrency} setsid nohup ${process.execPath} ${bin} --config-dir ${fleetDir} >${fleetDir}/log/{server}.out 2>&1 </dev/null & echo $! >${pid}`,
    `stop_cmd=kill -TERM $(cat ${pid})`,
    `status_cmd=kill -0 $(cat ${pid})`,
  ];
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the autoscaling e2e runs as root (its servers admit another user)');
  ensureTestUser();
  sshPort = await freePort();
  pipe = await Pipeline.create({
    config: {
      'provisioning.cfg': {
        mode: 'dynamic',
        'cloud.local.ssh_port': sshPort,
        'cloud.local.login_user': SSH_TEST_USER,
      },
      'persistence.properties': { 'redis.db': REDIS_DB },
      // The scheduling lease decides who evaluates; sync.servers finds unknown servers.
      'publisher.properties': {
        'sync.enabled': 'true',
        'sync.interval.servers': '2s',
        'sync.interval.firewalls': '24h',
        'sync.interval.volumes': '24h',
        'sync.interval.budget': '24h',
        'sync.lease': '3s',
        'policies.interval': '500ms',
        'policies.rate_window': '5s',
      },
      // The platform's own subscriber: provisioning, guest and sync work; the fleet consumes control.
      'subscriber.properties': { queues: 'provision,guest,monitor', concurrency: 8 },
    },
  });
  fleetDir = writeFleetConfig();
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  key = makeKeyPair(pipe.dir, 'fleet_key');
  writeFileSync(
    join(pipe.dir, 'local.json'),
    JSON.stringify({ ssh_private_key: key.privateKey, ssh_public_key: key.publicKey.trim() }),
  );
  expect((await cmq(['tenants', 'add', TENANT, '--name', 'Acme'])).code).toBe(0);
  const added = await cmq([
    'accounts',
    'add',
    '--tenant',
    'cmq-platform',
    '--provider',
    'local',
    '--region',
    'lo',
    '--credentials-file',
    join(pipe.dir, 'local.json'),
  ]);
  expect(added.code).toBe(0);
  account = /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
}, 60_000);

afterAll(async () => {
  for (const p of pipe?.processes ?? []) p.kill('SIGTERM');
  if (account !== '' && pipe !== undefined) {
    // Whatever happened: fleet subscribers stopped (by their pid files), servers terminated.
    for (const s of await localCloud()
      .listServers()
      .catch(() => [])) {
      try {
        const pid = Number(readFileSync(join(fleetDir, 'run', `${s.id}.pid`), 'utf8'));
        if (pid > 1) process.kill(pid, 'SIGKILL');
      } catch {
        // no subscriber was started on it, or it is gone
      }
      if (s.state !== 'terminated')
        await localCloud()
          .terminateServer(s.id)
          .catch(() => undefined);
    }
  }
  await pipe?.destroy();
  await fake?.close();
}, 60_000);

interface Decision {
  kind: string;
  current: number;
  decided: number;
  reason: string;
  actions: string[];
}

async function decisions(): Promise<Decision[]> {
  const { rows } = await pipe.pool.query<Decision>(
    'SELECT kind, current, decided, reason, actions::text[] FROM policy_decisions ORDER BY id',
  );
  return rows;
}

async function fleetStates(): Promise<Record<string, number>> {
  const { rows } = await pipe.pool.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM fleet_servers GROUP BY state',
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

describe('autoscaling on the local cloud', () => {
  it('refuses an invalid policy naming the field, adds a valid one; in passive mode policies are inactive', async () => {
    const bad = await cmq(['policies', 'add', 'bad', ...policyFields(), 'families=nope', 'cooldown_in_s=-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('families.0:');
    expect(bad.stderr).toContain('cooldown_in_s:');
    const bounds = await cmq(['policies', 'add', 'bad', ...policyFields(), 'min=5', 'max=2']);
    expect(bounds).toMatchObject({ code: 2, stderr: 'cmq: policy bad: min: min 5 is above max 2\n' });
    expect((await cmq(['policies', 'add', 'fleet', ...policyFields()])).code).toBe(0);
    const list = await cmq(['policies', 'list']);
    expect(list.stdout).toMatch(/fleet\s+control\s+\d+\s+0-3\s+yes/);
    expect(list.stdout).not.toContain('inactive');
    const set = await cmq(['policies', 'set', 'fleet', 'min=9']);
    expect(set).toMatchObject({ code: 2, stderr: 'cmq: policy fleet: min: min 9 is above max 3\n' });
    // In passive mode (provisioning.cfg mode, overridden here by its variable) policies are inactive, and say so.
    const passive = await runCmq(['policies', 'list', '--config-dir', pipe.dir], { CMQ_MODE: 'passive' });
    expect(passive.stdout).toContain('policies are inactive in mode passive');
    // ... and a publisher in that mode says so once in its log, and evaluates nothing.
    const publisher = pipe.start('publisher', [], { CMQ_MODE: 'passive' });
    await waitForLog(
      join(pipe.logDir, 'publisher-main.log'),
      (l) =>
        l.msg === 'autoscaling policies are inactive in mode passive (provisioning.cfg mode=dynamic evaluates them)',
      30_000,
      'the passive publisher saying policies are inactive',
    );
    publisher.kill('SIGTERM');
    expect(await publisher.exitCode()).toBe(0);
    expect(await decisions()).toEqual([]);
  });

  it('a flood grows the fleet to 3 servers whose subscribers consume it, then the fleet shrinks to 0', async () => {
    // A server of the fleet's account the fleet never launched: found, reported, terminated after the grace.
    const stray = await localCloud().launchServer({
      clientToken: 'stray-1',
      image: 'local',
      size: 'small',
      name: 'stray',
    });
    const first = pipe.start('publisher');
    pipe.start('subscriber');
    await pipe.running('publisher', 'main', first.pid);
    await pipe.running('subscriber', 'default');

    const ids = await pipe.submit(
      Array.from({ length: FLOOD }, () => ({ type: 'noop', tenant: TENANT, args: { sleep_ms: 50 } })),
    );
    // kill -9 the publisher right after its first launch decision, before it records any server.
    await waitFor(async () => (await decisions()).some((d) => d.kind === 'out'), 20_000, 'a scale-out decision');
    first.kill('SIGKILL');
    await first.exited;
    const restarted = pipe.start('publisher');
    await pipe.running('publisher', 'main', restarted.pid);

    await waitFor(async () => (await fleetStates()).ready === 3, 60_000, 'three fleet servers ready');
    await pipe.allFinal(90_000, ids);
    expect(await countActions(pipe.pool, { ids, state: 'succeeded' })).toBe(FLOOD);
    await waitFor(
      async () => {
        const s = await fleetStates();
        return s.terminated === 3 && Object.keys(s).length === 1;
      },
      60_000,
      'every fleet server terminated',
    );

    // Every server ran a subscriber that consumed; none started an action after its drain began.
    const { rows: servers } = await pipe.pool.query<{ server_id: string }>('SELECT server_id FROM fleet_servers');
    expect(servers).toHaveLength(3);
    for (const { server_id: server } of servers) {
      const lines = logLines(join(fleetDir, 'log', `subscriber-${server}.log`));
      const drain = lines.find((l) => l.msg === 'state draining');
      expect(drain).toBeDefined();
      const { rows } = await pipe.pool.query<{ ran: number; late: number }>(
        `SELECT count(*)::int AS ran, count(*) FILTER (WHERE started_at > $2)::int AS late FROM actions
         WHERE type = 'noop' AND worker LIKE $1`,
        [`subscriber:${server}@%`, new Date(String(drain?.time))],
      );
      expect(rows[0]?.ran).toBeGreaterThan(0);
      expect(rows[0]?.late).toBe(0);
    }
    // Drained over the broker (worker control): no stop command was needed.
    expect(await countActions(pipe.pool, { type: 'node.stop' })).toBe(0);
    // No server launched twice: one launch action, one server per fleet row, all terminated.
    expect(await countActions(pipe.pool, { type: 'server.launch' })).toBe(3);
    const listed = await localCloud().listServers();
    expect(listed.filter((s) => s.id !== stray.id).map((s) => s.state)).toEqual([
      'terminated',
      'terminated',
      'terminated',
    ]);

    // The stray server: reported, then terminated after orphan_grace_s.
    await waitFor(
      async () => (await localCloud().getServer(stray.id))?.state === 'terminated',
      30_000,
      'the stray terminated',
    );
    const story = await decisions();
    const orphans = story.filter((d) => d.kind === 'orphan').map((d) => d.reason);
    expect(orphans).toEqual([
      expect.stringContaining(`unknown server ${stray.id} in account ${account}`),
      expect.stringContaining(`unknown server ${stray.id} past orphan_grace_s`),
    ]);
    // The decisions tell the story: out to 3, then in one by one to 0.
    const changes = story.filter((d) => d.kind === 'out' || d.kind === 'in');
    expect(changes[0]).toMatchObject({ kind: 'out', current: 0, decided: 3 });
    expect(changes.slice(1).map((d) => `${d.kind} ${d.current}→${d.decided}`)).toEqual(['in 3→2', 'in 2→1', 'in 1→0']);
    const shown = await cmq(['policies', 'decisions', '--family', 'control']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/fleet\s+out\s+0→3/);
    expect(shown.stdout).toMatch(/fleet\s+in\s+1→0/);
  }, 240_000);

  it('launches that fail open the breaker: a decision row, a WARNING in cmq check, no launch until it closes', async () => {
    // A fake EC2 endpoint (no real one can run here) that knows no image: every RunInstances is refused.
    fake = await new FakeEc2({ images: [] }).start();
    writeFileSync(
      join(pipe.dir, 'ec2.json'),
      JSON.stringify({
        access_key_id: 'AKIDFLEET',
        secret_access_key: 'fleet-secret-0123456789',
        ssh_private_key: key.privateKey,
      }),
    );
    const added = await cmq([
      'accounts',
      'add',
      '--tenant',
      'cmq-platform',
      '--provider',
      'ec2',
      '--region',
      'us-east-1',
      '--endpoint',
      fake.endpoint,
      '--credentials-file',
      join(pipe.dir, 'ec2.json'),
    ]);
    expect(added.code).toBe(0);
    const ec2 = /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
    expect((await cmq(['policies', 'disable', 'fleet'])).code).toBe(0);
    const fields = policyFields().map((f) => (f.startsWith('account=') ? `account=${ec2}` : f));
    const broken = [
      ...fields,
      'image=ami-0badbadbad',
      'step_up_max=1',
      'cooldown_out_s=0',
      'breaker_failures=2',
      'breaker_open_s=600',
    ];
    expect((await cmq(['policies', 'add', 'broken', ...broken])).code).toBe(0);
    await pipe.submit(Array.from({ length: 20 }, () => ({ type: 'noop', tenant: TENANT, args: {} })));

    const launches = () => countActions(pipe.pool, { type: 'server.launch', state: 'dead' });
    await waitFor(async () => (await decisions()).some((d) => d.kind === 'breaker'), 30_000, 'the breaker to open');
    expect(await launches()).toBe(2);
    const check = await cmq(['check']);
    expect(check.code).not.toBe(0);
    expect(check.stdout).toContain('autoscaling policy broken: launch breaker open until');
    // Several evaluations later: held with the breaker named, and still only the two launches.
    const opened = (await decisions()).length;
    await waitFor(
      async () =>
        (await decisions()).slice(opened).filter((d) => d.reason.includes('the launch breaker is open')).length >= 3,
      10_000,
      'three evaluations held by the breaker',
    );
    expect(await countActions(pipe.pool, { type: 'server.launch' })).toBe(5);
    expect(fake.calls.filter((c) => c.action === 'RunInstances')).toHaveLength(2);

    // Its time passed (moved forward here rather than waited for): it closes and a launch is tried again.
    await pipe.pool.query("UPDATE policies SET breaker_open_until = now() WHERE name = 'broken'");
    await waitFor(
      () => fake?.calls.filter((c) => c.action === 'RunInstances').length === 3,
      20_000,
      'a launch after the breaker closed',
    );
    expect((await decisions()).filter((d) => d.kind === 'breaker').map((d) => d.reason)).toEqual([
      expect.stringContaining('launch breaker opened: 2 launch failures in a row'),
      'launch breaker closed: launches may be tried again',
    ]);
  }, 90_000);
});
