import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type ActionRow, actionEvents, actionRow, listActions, listEvents } from '../helpers/actions';
import { serviceConfig, writeConfig } from '../helpers/config-dir';
import { freePort } from '../helpers/private-servers';
import { type Spawned, execFileP, runCmqWithInput, spawnBin, waitForLog } from '../helpers/process';
import { withDb } from '../helpers/scripts';
import { createTestDatabase, dropTestDatabase } from '../helpers/services';
import { waitFor } from '../helpers/wait';

/**
 * The operator's and requester's `cmq` commands against a real PostgreSQL (a database of its
 * own) and, for --wait and dead-message replay, the built publisher and subscriber on a RabbitMQ
 * vhost of its own (so no other test file's subscriber takes its messages).
 */
const vhost = `cmq-cli-${randomBytes(4).toString('hex')}`;
/** Set in worker.properties (trust authentication ignores it): no output may ever show it. */
const DB_SECRET = 's3cr3t-db-pw';
let database: string;
let dir: string;
let logDir: string;
const outputs: string[] = [];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `cmq` with `--config-dir` of this file, feeding `input` on stdin. */
async function cmq(args: string[], input = '', configDir = dir): Promise<Result> {
  const res = await runCmqWithInput([...args, '--config-dir', configDir], input);
  outputs.push(res.stdout, res.stderr);
  return res;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

async function sql<R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
  return withDb(database, async (c) => (await c.query<R>(text, values)).rows);
}

async function count(...filters: string[]): Promise<number> {
  const res = await cmq(['actions', '--count', ...filters]);
  expect(res.stderr).toBe('');
  return Number(res.stdout.trim());
}

async function rabbitmqctl(...args: string[]): Promise<void> {
  await execFileP('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
}

beforeAll(async () => {
  database = await createTestDatabase('cmq_cli');
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  ({ dir, logDir } = serviceConfig(
    { 'mq.cfg': { 'amqp.vhost': vhost }, 'worker.properties': { 'db.password': DB_SECRET } },
    database,
  ));
  const migrated = await cmq(['migrate']);
  expect(migrated.stderr).toBe('');
  const added = await Promise.all([
    cmq(['tenants', 'add', 'acme', '--name', 'Acme Corp']),
    cmq(['tenants', 'add', 'beta', '--name', 'Beta']),
  ]);
  expect(added.map((r) => r.code)).toEqual([0, 0]);
});

afterAll(async () => {
  await dropTestDatabase(database);
  await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
  expect(outputs.join('\n')).not.toContain(DB_SECRET);
});

describe('cmq tenants', () => {
  it('lists the tenants added, as a table and as JSON lines', async () => {
    const table = await cmq(['tenants', 'list']);
    expect(table.code).toBe(0);
    expect(lines(table.stdout)[0]).toMatch(/^ID\s+NAME\s+ENABLED\s+CREATED$/);
    expect(table.stdout).toMatch(/^acme\s+Acme Corp\s+yes\s+\d{4}-/m);
    const json = await cmq(['tenants', 'list', '--json']);
    // cmq-canary comes with the schema: the pinger's canaries run as that tenant.
    expect(lines(json.stdout).map((l) => (JSON.parse(l) as { id: string }).id)).toEqual([
      'acme',
      'beta',
      'cmq-canary',
      'cmq-platform',
    ]);
  });

  it('refuses a malformed id (exit 2) and a taken one (exit 1), naming the problem', async () => {
    const [bad, taken, noName] = await Promise.all([
      cmq(['tenants', 'add', 'Not OK!', '--name', 'x']),
      cmq(['tenants', 'add', 'acme', '--name', 'again']),
      cmq(['tenants', 'add', 'gamma']),
    ]);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toBe(
      'cmq: tenant id "Not OK!": use 1-63 of a-z, 0-9, _ and -, starting with a letter or digit\n',
    );
    expect(taken).toMatchObject({ code: 1, stderr: 'cmq: tenant "acme" already exists\n' });
    expect(noName.code).toBe(64);
    expect(noName.stderr).toContain("required option '--name <name>'");
    expect((await sql('SELECT id FROM tenants ORDER BY id')).map((r) => r.id)).toEqual([
      'acme',
      'beta',
      'cmq-canary',
      'cmq-platform',
    ]);
  });
});

describe('cmq call', () => {
  it('refuses a bad request with exit 2 naming the field, and inserts nothing', async () => {
    const before = await count();
    const [badArg, unknownType, unknownTenant, notJson, both] = await Promise.all([
      cmq(['call', 'noop', '--tenant', 'acme', '--args', '{"sleep_ms":-5}']),
      cmq(['call', 'nope', '--tenant', 'acme']),
      cmq(['call', 'noop', '--tenant', 'ghost']),
      cmq(['call', 'noop', '--tenant', 'acme', '--args', '{sleep_ms:1}']),
      cmq(['call', 'noop', '--tenant', 'acme', '--countdown', '5', '--eta', '2030-01-01T00:00:00Z']),
    ]);
    for (const res of [badArg, unknownType, unknownTenant, notJson, both]) {
      expect(res).toMatchObject({ code: 2, stdout: '' });
      expect(lines(res.stderr)).toHaveLength(1);
    }
    expect(badArg.stderr).toMatch(/^cmq: args\.sleep_ms: /);
    expect(unknownType.stderr).toMatch(
      /^cmq: unknown action type "nope" \(known: [a-z., ]*\bnoop, ping\b[a-z., ]*\)\n$/,
    );
    expect(unknownTenant.stderr).toBe('cmq: tenant: unknown tenant "ghost" (add it with `cmq tenants add`)\n');
    expect(notJson.stderr).toMatch(/^cmq: args: not JSON: /);
    expect(both.stderr).toBe('cmq: countdown and eta: give one of them, not both\n');
    expect(await count()).toBe(before);
  });

  it('exits 64 for a bad command line', async () => {
    const results = await Promise.all([
      cmq(['call', 'noop']),
      cmq(['call', 'noop', '--tenant', 'acme', '--timeout', '5']),
      cmq(['call', '--stdin', 'noop']),
      cmq(['result', 'abc']),
    ]);
    expect(results.map((r) => r.code)).toEqual([64, 64, 64, 64]);
    expect(results.map((r) => r.stderr)).toEqual([
      'cmq: call: --tenant T is required\n',
      'cmq: --timeout goes with --wait\n',
      'cmq: call --stdin: every request comes from stdin; drop TYPE noop\n',
      'cmq: "abc" is not an action id (a positive integer)\n',
    ]);
  });

  it('prints the id; the same idempotency key returns the same id (per tenant)', async () => {
    const first = await cmq([
      'call',
      'noop',
      '--tenant',
      'acme',
      '--idempotency-key',
      'order-42',
      '--countdown',
      '3600',
      '--priority',
      '7',
      '--max-attempts',
      '3',
    ]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^\d+\n$/);
    const again = await cmq([
      'call',
      'noop',
      '--tenant',
      'acme',
      '--idempotency-key',
      'order-42',
      '--countdown',
      '3600',
    ]);
    expect(again).toMatchObject({ code: 0, stdout: first.stdout });
    const other = await cmq([
      'call',
      'noop',
      '--tenant',
      'beta',
      '--idempotency-key',
      'order-42',
      '--countdown',
      '3600',
    ]);
    expect(other.stdout).not.toBe(first.stdout);
    const row = await withDb(database, (c) => actionRow(c, first.stdout.trim()));
    expect(row).toMatchObject({ tenant_id: 'acme', state: 'pending', priority: 7, max_attempts: 3 });
    expect(row.not_before.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    const events = (await withDb(database, (c) => actionEvents(c, first.stdout.trim()))).map(
      ({ from_state, to_state, actor, reason }) => ({ from_state, to_state, actor, reason }),
    );
    expect(events).toEqual([
      {
        from_state: null,
        to_state: 'pending',
        actor: expect.stringMatching(/^cli:.+@.+$/) as unknown,
        reason: 'submitted',
      },
    ]);
  });
});

describe('cmq call --stdin', () => {
  it('inserts good lines and prints one id per line, in input order (blank lines skipped)', async () => {
    const input = [1, 2, 3].map((n) =>
      JSON.stringify({ type: 'noop', tenant: 'beta', args: { sleep_ms: n }, countdown: 3600 }),
    );
    const res = await cmq(['call', '--stdin'], `${input[0]}\n\n${input[1]}\n${input[2]}\n`);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const ids = lines(res.stdout);
    expect(ids).toHaveLength(3);
    const rows = await withDb(database, (c) => listActions(c, { ids }));
    const byId = new Map(rows.map((r) => [r.id, r.args.sleep_ms]));
    expect(ids.map((id) => byId.get(id))).toEqual([1, 2, 3]);
  });

  it('with bad lines inserts nothing and names every bad line', async () => {
    const before = await count();
    const good = JSON.stringify({ type: 'noop', tenant: 'acme' });
    const input = [
      good,
      JSON.stringify({ type: 'noop', tenant: 'acme', args: { sleep_ms: 'soon' } }),
      good,
      'not json',
      JSON.stringify({ type: 'noop', tenant: 'ghost' }),
      JSON.stringify({ type: 'noop', tenant: 'acme', countdown: 1e300 }),
      // JSON can carry what PostgreSQL cannot store: refused here, with the field, not by the database.
      JSON.stringify({ type: 'guest.exec', tenant: 'acme', args: { guest: 'web1', command: 'echo a\u0000b' } }),
      JSON.stringify({ type: 'noop', tenant: 'acme', idempotency_key: 'k\udc00' }),
      '',
    ].join('\n');
    const res = await cmq(['call', '--stdin'], input);
    expect(res).toMatchObject({ code: 2, stdout: '' });
    expect(lines(res.stderr)).toEqual([
      expect.stringMatching(/^cmq: line 2: args\.sleep_ms: /),
      expect.stringMatching(/^line 4: not JSON: /),
      'line 5: tenant: unknown tenant "ghost" (add it with `cmq tenants add`)',
      'line 6: countdown: too far in the future',
      'line 7: args.command: contains U+0000 (NUL), which cannot be stored',
      'line 8: idempotency_key: contains U+DC00, half a UTF-16 surrogate pair (not Unicode text), which cannot be stored',
      'nothing inserted: 6 bad lines',
    ]);
    expect(await count()).toBe(before);
  });

  it('takes 100,000 lines in batches', async () => {
    const line = JSON.stringify({ type: 'noop', tenant: 'beta', countdown: 3600, args: { family: 'monitor' } });
    const input = `${line}\n`.repeat(100_000);
    const started = Date.now();
    const res = await cmq(['call', '--stdin', '--batch', '5000'], input);
    const seconds = (Date.now() - started) / 1000;
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const ids = lines(res.stdout);
    expect(ids).toHaveLength(100_000);
    expect(new Set(ids).size).toBe(100_000);
    expect(await count('--tenant', 'beta', '--type', 'noop', '--state', 'pending')).toBeGreaterThanOrEqual(100_000);
    // A loose bound: it takes about 4 s on the 2-core machine; minutes would mean something quadratic.
    expect(seconds).toBeLessThan(30);
  });
});

describe('cmq actions, result, cancel', () => {
  let pingId: string;
  beforeAll(async () => {
    const res = await cmq(['call', 'ping', '--tenant', 'acme', '--countdown', '3600', '--args', '{"family":"guest"}']);
    pingId = res.stdout.trim();
  });

  it('filters by tenant, state and type; --count, --limit and --json', async () => {
    const table = await cmq(['actions', '--tenant', 'acme', '--type', 'ping']);
    expect(table.code).toBe(0);
    expect(lines(table.stdout)).toEqual([
      expect.stringMatching(/^ID\s+TENANT\s+TYPE\s+STATE\s+ATTEMPTS\s+CREATED\s+FINISHED\s+ERROR$/),
      expect.stringMatching(new RegExp(`^${pingId}\\s+acme\\s+ping\\s+pending\\s+0/5\\s+\\d{4}-\\S+\\s+-\\s+-$`)),
    ]);
    const json = await cmq(['actions', '--tenant', 'beta', '--limit', '2', '--json']);
    const rows = lines(json.stdout).map((l) => JSON.parse(l) as { tenant_id: string; id: string });
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.tenant_id === 'beta')).toBe(true);
    expect(Number(rows[0]?.id)).toBeGreaterThan(Number(rows[1]?.id));
    expect(await count('--tenant', 'acme', '--type', 'ping')).toBe(1);
    expect(await count('--state', 'cancelled')).toBe(0);
    const bad = await cmq(['actions', '--state', 'sleeping']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('must be one of pending, queued, running');
  });

  it('cancels a pending action with an event; refuses a final or running one, naming its state', async () => {
    const res = await cmq(['cancel', pingId]);
    expect(res).toMatchObject({ code: 0, stdout: `${pingId} cancelled (was pending)\n` });
    expect(await count('--state', 'cancelled')).toBe(1);
    const show = await cmq(['actions', 'show', pingId, '--json']);
    const shown = JSON.parse(show.stdout) as {
      state: string;
      finished_at: string | null;
      events: Array<{ from_state: string; to_state: string; reason: string }>;
    };
    expect(shown.state).toBe('cancelled');
    expect(shown.finished_at).not.toBeNull();
    expect(shown.events.at(-1)).toMatchObject({
      from_state: 'pending',
      to_state: 'cancelled',
      reason: 'cancelled by an operator',
    });
    const again = await cmq(['cancel', pingId]);
    expect(again).toMatchObject({
      code: 1,
      stderr: `cmq: action ${pingId} is already cancelled: only pending, queued or retrying actions can be cancelled\n`,
    });
    const running = (await cmq(['call', 'noop', '--tenant', 'acme', '--countdown', '3600'])).stdout.trim();
    await sql("UPDATE actions SET state = 'running' WHERE id = $1", [running]);
    expect(await cmq(['cancel', running])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`action ${running} is running: it cannot be cancelled`) as unknown,
    });
    expect(await cmq(['cancel', '987654321'])).toMatchObject({ code: 1, stderr: 'cmq: no action with id 987654321\n' });
  });

  it('shows an action and its life: at, from → to, actor, reason', async () => {
    const res = await cmq(['actions', 'show', pingId]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^state:\s+cancelled$/m);
    expect(res.stdout).toMatch(/^args:\s+\{"family":"guest"\}$/m);
    expect(res.stdout).toMatch(/^\S+Z\s+\(new\) → pending\s+cli:\S+\s+submitted$/m);
    expect(res.stdout).toMatch(/^\S+Z\s+pending → cancelled\s+cli:\S+\s+cancelled by an operator$/m);
  });

  it('result: exit 1 for an unknown id or an unfinished action, 0 with the result for a succeeded one', async () => {
    expect(await cmq(['result', '987654321'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'cmq: no action with id 987654321\n',
    });
    const id = (await cmq(['call', 'noop', '--tenant', 'acme', '--countdown', '3600'])).stdout.trim();
    expect(await cmq(['result', id])).toMatchObject({ code: 1, stdout: `${id} pending\n`, stderr: '' });
    const waited = await cmq(['result', id, '--wait', '--timeout', '0.5']);
    expect(waited).toMatchObject({ code: 1, stderr: `cmq: action ${id} still pending after 0.5 s\n` });
    await sql(
      `UPDATE actions SET state = 'succeeded', result = '{"answer":42,"password":"hunter2"}', finished_at = now() WHERE id = $1`,
      [id],
    );
    const done = await cmq(['result', id]);
    expect(done).toMatchObject({ code: 0, stdout: `${id} succeeded\n{"answer":42,"password":"[redacted]"}\n` });
    const json = await cmq(['result', id, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      id,
      state: 'succeeded',
      tenant_id: 'acme',
      result: { answer: 42, password: '[redacted]' },
    });
  });
});

describe('cmq dead', () => {
  let deadId: string;
  let textLetter: string;
  let binaryLetter: string;
  let cutLetter: string;
  beforeAll(async () => {
    deadId = (await cmq(['call', 'noop', '--tenant', 'acme', '--max-attempts', '2'])).stdout.trim();
    await sql(
      "UPDATE actions SET state = 'dead', attempts = 2, throttles = 20, error = 'gave up after 2 attempts: boom', finished_at = now() WHERE id = $1",
      [deadId],
    );
    const insert =
      'INSERT INTO dead_letters (reason, routing_key, tenant_id, body, body_bytes, worker) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text';
    const body = Buffer.from(JSON.stringify({ type: 'noop', tenant: 'acme', args: {} }));
    textLetter = `m${(await sql<{ id: string }>(insert, ['tenant: unknown tenant "acme"', 'control.noop.acme', 'acme', body, body.length, 'test']))[0]?.id}`;
    const binary = Buffer.from([0x00, 0x01, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff]);
    binaryLetter = `m${(await sql<{ id: string }>(insert, ['body is not JSON: Unexpected token', 'control.noop.acme', null, binary, binary.length, 'test']))[0]?.id}`;
    cutLetter = `m${(await sql<{ id: string }>(insert, ['body of 300000 bytes is over the limit', 'control.noop.beta', 'beta', Buffer.alloc(1000, 'x'), 300_000, 'test']))[0]?.id}`;
  });

  it('lists dead actions and dead messages, filtered by tenant', async () => {
    const res = await cmq(['dead', 'list']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      new RegExp(
        `^${deadId}\\s+\\S+Z\\s+acme\\s+noop\\s+control\\.noop\\.acme\\s+gave up after 2 attempts: boom$`,
        'm',
      ),
    );
    expect(res.stdout).toMatch(
      new RegExp(`^${binaryLetter}\\s+\\S+Z\\s+-\\s+-\\s+control\\.noop\\.acme\\s+body is not JSON`, 'm'),
    );
    const beta = await cmq(['dead', 'list', '--tenant', 'beta', '--json']);
    expect(lines(beta.stdout).map((l) => JSON.parse(l) as { id: string })).toEqual([
      expect.objectContaining({ id: cutLetter, tenant: 'beta', reason: 'body of 300000 bytes is over the limit' }),
    ]);
  });

  it('shows a dead action with its events, and a dead message with its body printed safely', async () => {
    const action = await cmq(['dead', 'show', deadId]);
    expect(action.code).toBe(0);
    expect(action.stdout).toMatch(/^error:\s+gave up after 2 attempts: boom$/m);
    expect(action.stdout).toMatch(/^attempts:\s+2 of 2 \(and 20 throttled runs not counted\)$/m);
    expect(action.stdout).toMatch(/\(new\) → pending/);
    const text = await cmq(['dead', 'show', textLetter]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('routing key: control.noop.acme\ntenant:      acme\n');
    expect(text.stdout).toContain('body (text):\n{"type":"noop","tenant":"acme","args":{}}\n');
    const binary = await cmq(['dead', 'show', binaryLetter]);
    expect(binary.stdout).toContain('body (not printable text, hex dump):\n00000000  00 01 1b 5b 33 31 6d ff');
    expect(binary.stdout).not.toContain('\x1b');
    const cut = await cmq(['dead', 'show', cutLetter]);
    expect(cut.stdout).toContain('size:        300000 bytes (only the first 1000 kept)');
    expect(cut.stdout).toContain('body (text, first 1000 of 300000 bytes):');
    expect(await cmq(['dead', 'show', 'm987654'])).toMatchObject({ code: 1, stderr: 'cmq: no dead message m987654\n' });
    expect(await cmq(['dead', 'show', 'x1'])).toMatchObject({ code: 64 });
  });

  it('replays a dead action: pending again, attempts reset, with an event', async () => {
    const res = await cmq(['dead', 'replay', deadId]);
    expect(res).toMatchObject({ code: 0, stdout: `${deadId} pending (replayed, attempts reset)\n` });
    const row = await withDb(database, (c) => actionRow(c, deadId));
    expect(row).toMatchObject({ state: 'pending', attempts: 0, throttles: 0, error: null });
    const event = (await withDb(database, (c) => actionEvents(c, deadId))).at(-1);
    expect(event).toMatchObject({ from_state: 'dead', to_state: 'pending', reason: 'replayed by an operator' });
    expect(await cmq(['dead', 'replay', deadId])).toMatchObject({
      code: 1,
      stderr: `cmq: action ${deadId} is pending, not dead: only dead actions are replayed\n`,
    });
  });

  it('replay --all puts back every dead action of a tenant', async () => {
    const ids = lines(
      (
        await cmq(
          ['call', '--stdin'],
          `${JSON.stringify({ type: 'noop', tenant: 'beta', countdown: 3600 })}\n`.repeat(3),
        )
      ).stdout,
    );
    await sql("UPDATE actions SET state = 'dead', throttles = 3 WHERE id = ANY($1::bigint[])", [ids]);
    expect(await cmq(['dead', 'replay', '--all', '--tenant', 'acme'])).toMatchObject({
      code: 0,
      stdout: 'replayed 0 dead actions\n',
    });
    expect(await cmq(['dead', 'replay', '--all', '--tenant', 'beta'])).toMatchObject({
      code: 0,
      stdout: 'replayed 3 dead actions\n',
    });
    expect(await count('--state', 'dead')).toBe(0);
    const replayed = await withDb(database, (c) => listActions(c, { ids }));
    expect(replayed.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(new Set(replayed.map((r) => r.throttles))).toEqual(new Set([0]));
  });

  it('replays a dead message onto cmq.actions once; refuses a truncated one', async () => {
    const res = await cmq(['dead', 'replay', textLetter]);
    expect(res).toMatchObject({
      code: 0,
      stdout: `${textLetter} published again to cmq.actions with routing key control.noop.acme\n`,
      stderr: '',
    });
    const [letter] = await sql('SELECT replayed_at IS NOT NULL AS replayed FROM dead_letters WHERE id = $1', [
      textLetter.slice(1),
    ]);
    expect(letter).toEqual({ replayed: true });
    expect((await cmq(['dead', 'replay', textLetter])).stderr).toMatch(
      new RegExp(`^cmq: dead message ${textLetter} was already replayed at `),
    );
    expect((await cmq(['dead', 'list'])).stdout).not.toContain(`${textLetter} `);
    expect(await cmq(['dead', 'replay', cutLetter])).toMatchObject({
      code: 1,
      stderr: `cmq: dead message ${cutLetter} cannot be replayed: only the first 1000 of its 300000 bytes were kept\n`,
    });
  });

  it('says which broker did not answer, without its credentials', async () => {
    const port = await freePort();
    const bad = writeConfig({
      'worker.properties': { 'db.database': database },
      'mq.cfg': { 'amqp.urls': `amqp://ops:s3cr3t-amqp@127.0.0.1:${port}`, 'amqp.connect_timeout': '1s' },
    });
    const res = await cmq(['dead', 'replay', binaryLetter], '', bad);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(
        `^cmq: no broker answered within 1 s \\(mq.cfg amqp.urls, amqp.connect_timeout\\): waiting for broker at amqp://127.0.0.1:${port} \\(.*ECONNREFUSED.*\\)\n$`,
      ),
    );
    expect(res.stderr).not.toContain('s3cr3t');
  });

  it('exits 78 naming the file and key when the configuration is bad', async () => {
    const bad = writeConfig({ 'worker.properties': { 'db.port': 'five' } });
    const res = await cmq(['dead', 'list'], '', bad);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`${join(bad, 'worker.properties')}: db.port: `);
  });
});

describe('cmq call --wait, with the publisher and subscriber running', () => {
  const procs: Spawned[] = [];
  beforeAll(async () => {
    procs.push(spawnBin('publisher', ['--config-dir', dir]), spawnBin('subscriber', ['--config-dir', dir]));
    await Promise.all([
      waitForLog(join(logDir, 'publisher-main.log'), (l) => l.msg === 'state running', 30_000, 'publisher running'),
      waitForLog(
        join(logDir, 'subscriber-default.log'),
        (l) => l.msg === 'state running',
        30_000,
        'subscriber running',
      ),
    ]);
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGTERM');
    expect(await Promise.all(procs.map((p) => p.exitCode(20_000)))).toEqual([0, 0]);
  });

  it('exits 0 printing succeeded and the result', async () => {
    const res = await cmq(['call', 'noop', '--tenant', 'acme', '--wait']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const [id, state, result] = lines(res.stdout);
    expect(state).toBe(`${id} succeeded`);
    expect(JSON.parse(result ?? '')).toEqual({ attempt: 1 });
  });

  it('exits 1 printing dead and the error for a permanent failure', async () => {
    const res = await cmq([
      'call',
      'noop',
      '--tenant',
      'acme',
      '--args',
      '{"fail":"permanent"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(1);
    const [id, state, error] = lines(res.stdout);
    expect(state).toBe(`${id} dead`);
    expect(error).toBe('error: noop failing permanently on purpose');
    expect((await cmq(['dead', 'list'])).stdout).toMatch(new RegExp(`^${id}\\s`, 'm'));
  });

  it('times out with exit 1 naming the state; result --wait sees the end', async () => {
    const res = await cmq([
      'call',
      'noop',
      '--tenant',
      'acme',
      '--args',
      '{"sleep_ms":1500}',
      '--wait',
      '--timeout',
      '0.3',
    ]);
    const [id] = lines(res.stdout);
    expect(res).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        new RegExp(`^cmq: action ${id} still (pending|queued|running) after 0.3 s\n$`),
      ) as unknown,
    });
    const waited = await cmq(['result', id ?? '', '--wait']);
    expect(waited).toMatchObject({ code: 0, stdout: `${id} succeeded\n{"attempt":1}\n` });
  });

  it('the replayed dead action and dead message both ran', async () => {
    // The actions made from replayed dead messages, and those an operator replayed.
    const replayedRows = (): Promise<ActionRow[]> =>
      withDb(database, async (c) => {
        const fromLetters = await listActions(c, { idempotencyKey: 'amqp:dead-letter-m%' });
        const replays = await listEvents(c, { reason: 'replayed by an operator', from: 'dead', to: 'pending' });
        const ids = replays.filter((e) => e.actor.startsWith('cli:')).map((e) => e.action_id);
        const replayed = await listActions(c, { ids });
        return [...fromLetters, ...replayed.filter((r) => !fromLetters.some((l) => l.id === r.id))];
      });
    let rows: ActionRow[] = [];
    await waitFor(
      async () => {
        rows = await replayedRows();
        return rows.length > 0 && rows.every((r) => r.state === 'succeeded');
      },
      20_000,
      'the replayed actions succeeded',
    );
    expect(rows.filter((r) => r.idempotency_key?.startsWith('amqp:dead-letter-m') === true)).toEqual([
      expect.objectContaining({ state: 'succeeded' }),
    ]);
    expect(rows.every((r) => r.state === 'succeeded')).toBe(true);
  });
});
