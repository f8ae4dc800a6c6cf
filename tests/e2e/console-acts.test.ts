import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { freePort } from '../helpers/private-servers';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { addUser, createApiToken } from '@cmq/actions';
import { LocalDriver } from '@cmq/drivers';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, logIn, newPage, screenshotDir } from '../helpers/browser';
import { writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq, spawnBin } from '../helpers/process';
import { SSH_TEST_USER, makeKeyPair } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

/**
 * The console's acts in a real browser (Debian's chromium through playwright-core) against a
 * real pipeline: launch forms, cancel, replay, bulk replay, the audit view, and the refusals
 * (role, tenant, CSRF, origin, size). One browser and one set of services for the file.
 */
const SHOTS = screenshotDir(__filename);
const PASSWORD = 'correct horse battery';
let pipe: Pipeline;
let consoleProc: Spawned;
let base: string;
let browser: Browser;
let root: Page;
let op: Page;
let alice: Page;
let bob: Page;
let subB: Spawned;
let account = '';
let localCloud: LocalDriver | undefined;

async function loggedIn(name: string): Promise<Page> {
  const { page } = await newPage(browser, base);
  await logIn(page, name, PASSWORD);
  return page;
}

async function csrfOf(page: Page): Promise<string> {
  return (await page.locator('meta[name="csrf-token"]').getAttribute('content')) ?? '';
}

/** Inserts actions straight into a final `dead` state (what a handler's last failure leaves). */
async function insertDead(n: number, tenant: string, error: string): Promise<string[]> {
  const { rows } = await pipe.pool.query<{ id: string }>(
    `INSERT INTO actions (tenant_id, type, family, args, state, error, attempts, finished_at)
     SELECT $1, 'noop', 'control', '{}', 'dead', $2, 5, now() FROM generate_series(1, $3) RETURNING id::text`,
    [tenant, error, n],
  );
  return rows.map((r) => r.id);
}

async function stateOf(id: string): Promise<string> {
  const { rows } = await pipe.pool.query<{ state: string }>('SELECT state FROM actions WHERE id = $1', [id]);
  return rows[0]?.state ?? '';
}

async function actionCount(): Promise<number> {
  const { rows } = await pipe.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM actions');
  return rows[0]?.n ?? 0;
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  if (process.getuid?.() !== 0)
    throw new Error('the local cloud (server.terminate) needs root, as tests/e2e/cloud-local.test.ts');
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--password', '*', SSH_TEST_USER]);
  }
  const sshPort = await freePort();
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': 12 },
      'provisioning.cfg': { mode: 'dynamic', 'cloud.local.ssh_port': sshPort, 'cloud.local.login_user': SSH_TEST_USER },
    },
  });
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': '1s' };
  writeConfig(
    { 'console.properties': { ...own, 'console.listen': `127.0.0.1:${port}`, 'console.live.poll_interval': '200ms' } },
    pipe.dir,
  );
  // A second subscriber, `--instance b`, for worker control from the overview.
  writeConfig({ 'subscriber-b.properties': { ...own, 'shutdown.drain_timeout': '5s' } }, pipe.dir);
  await pipe.addTenants('ta', 'tb');
  // A local-driver account of tenant ta (as tests/e2e/cloud-local.test.ts), for server.terminate.
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  const key = makeKeyPair(pipe.dir, 'local_account_key');
  const credentials = join(pipe.dir, 'local.json');
  writeFileSync(credentials, JSON.stringify({ ssh_private_key: key.privateKey, ssh_public_key: key.publicKey.trim() }));
  const added = await runCmq([
    'accounts',
    'add',
    '--tenant',
    'ta',
    '--provider',
    'local',
    '--region',
    'lo',
    '--credentials-file',
    credentials,
    '--config-dir',
    pipe.dir,
  ]);
  account = /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
  localCloud = new LocalDriver({
    stateDir: join(pipe.dir, 'local-cloud'),
    account,
    authorizedKey: key.publicKey,
    sshPort,
  });
  await addUser(pipe.pool, { name: 'root', role: 'admin', tenant: null, password: PASSWORD });
  await addUser(pipe.pool, { name: 'op', role: 'operator', tenant: 'ta', password: PASSWORD });
  await addUser(pipe.pool, { name: 'alice', role: 'viewer', tenant: 'ta', password: PASSWORD });
  await addUser(pipe.pool, { name: 'bob', role: 'operator', tenant: 'tb', password: PASSWORD });
  await addUser(pipe.pool, { name: 'tad', role: 'admin', tenant: 'ta', password: PASSWORD });
  pipe.start('publisher');
  pipe.start('subscriber');
  subB = pipe.start('subscriber', ['--instance', 'b']);
  consoleProc = spawnBin('console', ['--config-dir', pipe.dir]);
  pipe.processes.push(consoleProc);
  const [b] = await Promise.all([
    launchBrowser(),
    pipe.running('subscriber', 'default'),
    pipe.running('subscriber', 'b', subB.pid),
    pipe.running('publisher', 'main'),
    pipe.running('console', 'main'),
  ]);
  browser = b;
  [root, op, alice, bob] = (await Promise.all(['root', 'op', 'alice', 'bob'].map(loggedIn))) as [
    Page,
    Page,
    Page,
    Page,
  ];
}, 90_000);

afterAll(async () => {
  // Every sshd a local server started is stopped, whatever happened.
  for (const srv of (await localCloud?.listServers().catch(() => [])) ?? [])
    if (srv.state !== 'terminated') await localCloud?.terminateServer(srv.id).catch(() => undefined);
  await browser?.close();
  await pipe?.destroy();
});

it('noop: a bad value is shown beside its field with nothing inserted; fixed, it runs as console:op, audited', async () => {
  await op.goto('/launch');
  await op.click('#launch-types a[href="/launch/noop"]');
  const before = await actionCount();
  await op.fill('[id="f-arg.sleep_ms"]', '9999999');
  await Promise.all([op.waitForLoadState('load'), op.click('#launch-submit')]);
  const error = op.locator('[id="error-arg.sleep_ms"]');
  await error.waitFor();
  expect(await error.textContent()).toMatch(/600000/);
  expect(await op.locator('.field-error').count()).toBe(1);
  expect(await actionCount()).toBe(before);
  await op.screenshot({ path: join(SHOTS, 'launch-error.png'), fullPage: true });
  // The value stays in the form; fixed, it is submitted and the page is the new action's.
  expect(await op.inputValue('[id="f-arg.sleep_ms"]')).toBe('9999999');
  await op.fill('[id="f-arg.sleep_ms"]', '200');
  await Promise.all([op.waitForURL(/\/actions\/\d+$/), op.click('#launch-submit')]);
  const id = /\/actions\/(\d+)$/.exec(op.url())?.[1] as string;
  await waitFor(
    async () => (await op.locator('#action-state').textContent()) === 'succeeded',
    20_000,
    'succeeded live',
  );
  const { rows } = await pipe.pool.query<{ actor: string }>(
    'SELECT DISTINCT actor FROM action_events WHERE action_id = $1 AND from_state IS NULL',
    [id],
  );
  expect(rows.map((r) => r.actor)).toEqual(['console:op']);
  expect(await stateOf(id)).toBe('succeeded');
  await op.screenshot({ path: join(SHOTS, 'launched.png'), fullPage: true });
  await root.goto('/audit?actor=op&action=action.submit');
  const audit = await root.locator('#audit tbody tr').allTextContents();
  expect(audit.some((t) => t.includes(`action ${id}`) && t.includes('ok') && t.includes('127.0.0.1'))).toBe(true);
  expect(audit.some((t) => t.includes('refused') && t.includes('sleep_ms'))).toBe(true);
  await root.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true });
});

it('a viewer and an operator of another tenant get 403 on every acting route; no forms for the viewer', async () => {
  const [dead] = await insertDead(1, 'ta', 'probe');
  const routes: Array<[string, Record<string, string>]> = [
    ['/launch/noop', { 'opt.tenant': 'ta' }],
    [`/actions/${dead}/cancel`, {}],
    [`/actions/${dead}/replay`, {}],
    ['/dead/replay', { tenant: 'ta', expected: '1' }],
    ['/tenants', { id: 'evil', name: 'Evil' }],
    ['/workers/control', { command: 'ping', all: 'true' }],
    ['/users', { name: 'mallory', role: 'admin', password: 'long enough pw' }],
    ['/users/op/disable', {}],
    ['/tenants/ta/enabled', { enabled: 'false' }],
    ['/tenants/ta/reset', { before: '2030-01-01', expected: '0' }],
  ];
  for (const page of [alice, bob]) {
    await page.goto('/');
    const token = await csrfOf(page);
    for (const [path, form] of routes) {
      const r = await page.context().request.post(path, {
        form: { ...form, _csrf: token },
        headers: { 'x-csrf-token': token },
        maxRedirects: 0,
      });
      expect([path, r.status()]).toEqual([path, 403]);
    }
  }
  expect(await stateOf(dead as string)).toBe('dead');
  for (const path of ['/launch', '/launch/noop', '/dead/replay']) {
    const r = await alice.context().request.get(path);
    expect([path, r.status()]).toEqual([path, 403]);
  }
  await alice.goto(`/actions/${dead}`);
  expect(await alice.locator('#action-acts').count()).toBe(0);
  expect(await alice.locator('nav a[href="/launch"]').count()).toBe(0);
  expect(await bob.locator('nav a[href="/launch"]').count()).toBe(1);
  expect(await bob.locator('nav a[href="/audit"]').count()).toBe(0);
  await alice.goto('/dead');
  expect(await alice.locator('#replay-by-filter').count()).toBe(0);
  expect((await alice.context().request.get('/audit')).status()).toBe(403);
});

/** A fetch with a user's API token (no browser, no CSRF token: Bearer requests need none). */
async function asToken(token: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    ...init,
    redirect: 'manual',
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(init.headers ?? {}) },
  });
}

it('a tenant-bound admin: no node types, no audit, no tenant acts; a crafted :tenant is 404 for all', async () => {
  const [rootT, tadT] = await Promise.all([createApiToken(pipe.pool, 'root'), createApiToken(pipe.pool, 'tad')]);
  const typesOf = async (t: string): Promise<string[]> =>
    ((await (await asToken(t, '/launch')).json()) as { types: Array<{ type: string }> }).types.map((x) => x.type);
  expect(await typesOf(rootT)).toContain('node.start');
  const bound = await typesOf(tadT);
  expect(bound).toContain('noop');
  expect(bound.filter((x) => x.startsWith('node.'))).toEqual([]);
  expect((await asToken(tadT, '/launch/node.stop')).status).toBe(404);
  const post = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  const launched = await asToken(tadT, '/launch/node.status', { ...post, body: 'opt.tenant=ta&arg.node=n1' });
  expect(launched.status).toBe(404);
  for (const [path, init] of [
    ['/audit', {}],
    ['/api/audit', {}],
    ['/tenants', { ...post, body: 'id=evil&name=Evil' }],
    ['/tenants/tb/enabled?to=disable', {}],
    ['/tenants/tb/enabled', { ...post, body: 'enabled=false' }],
  ] as const) {
    const r = await asToken(tadT, path, init);
    expect([path, r.status]).toEqual([path, 403]);
  }
  expect((await asToken(rootT, '/api/audit')).status).toBe(200);
  const crafted = 'x%2F..%2F..%2Fusers%2Fvictim%2Fdisable%3F';
  for (const path of [`/tenants/${crafted}/enabled?to=disable`, `/tenants/${crafted}/reset?before=2030-01-01`]) {
    const r = await asToken(rootT, path, { headers: { accept: 'text/html' } });
    expect([path, r.status]).toEqual([path, 404]);
  }
  const { rows } = await pipe.pool.query<{ enabled: boolean }>("SELECT enabled FROM tenants WHERE id = 'tb'");
  expect(rows[0]?.enabled).toBe(true);
});

/** Opens n live streams of a token (resolved once each has its headers); abort() closes them. */
async function openStreams(token: string, n: number): Promise<{ codes: number[]; abort: () => void }> {
  const ac = new AbortController();
  const codes = await Promise.all(
    Array.from({ length: n }, async () => (await asToken(token, '/api/live', { signal: ac.signal })).status),
  );
  return { codes, abort: () => ac.abort() };
}

it('one user holds at most 10 live streams (429 beyond); streams closed, even while opening, free theirs', async () => {
  const token = await createApiToken(pipe.pool, 'alice');
  const ten = await openStreams(token, 10);
  expect(ten.codes).toEqual(Array(10).fill(200));
  expect((await asToken(token, '/api/live')).status).toBe(429);
  ten.abort();
  // Dropped while opening: the client is gone before (or while) the stream reads its start id.
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const ac = new AbortController();
      const opening = asToken(token, '/api/live', { signal: ac.signal }).catch(() => undefined);
      setImmediate(() => ac.abort());
      await opening;
    }),
  );
  let again: { codes: number[]; abort: () => void } | undefined;
  await waitFor(
    async () => {
      again?.abort();
      again = await openStreams(token, 10);
      return again.codes.every((c) => c === 200);
    },
    10_000,
    'ten streams again once the others closed',
  );
  again?.abort();
});

it('a dead action is replayed from its page and 50 by filter after the count; all succeed', async () => {
  const [one] = await insertDead(1, 'ta', 'single dead');
  await op.goto(`/actions/${one}`);
  await Promise.all([op.waitForURL(`**/actions/${one}`), op.click('#replay-action')]);
  const bulk = await insertDead(50, 'ta', 'upstream said 503');
  await insertDead(3, 'tb', 'upstream said 503'); // another tenant's: never replayed by op
  await op.goto('/dead');
  await op.click('#replay-by-filter');
  await op.fill('#dead-filter input[name="reason"]', 'upstream said');
  await Promise.all([op.waitForURL(/reason=/), op.click('#dead-filter button')]);
  expect(await op.locator('#replay-count').textContent()).toBe('50');
  expect(await stateOf(bulk[0] as string)).toBe('dead');
  await op.screenshot({ path: join(SHOTS, 'replay-confirm.png'), fullPage: true });
  await Promise.all([op.waitForURL(/\/actions\?/), op.click('#replay-confirm')]);
  await pipe.allFinal(30_000, [one as string, ...bulk]);
  const { rows } = await pipe.pool.query<{ state: string; n: number }>(
    `SELECT state, count(*)::int AS n FROM actions WHERE id = ANY($1::bigint[]) GROUP BY state`,
    [[one, ...bulk]],
  );
  expect(rows).toEqual([{ state: 'succeeded', n: 51 }]);
  const { rows: other } = await pipe.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM actions WHERE tenant_id = 'tb' AND state = 'dead'`,
  );
  expect(other[0]?.n).toBe(3);
});

it('a pending action (countdown) is cancelled from its page', async () => {
  await op.goto('/launch/noop');
  await op.fill('[id="f-opt.countdown"]', '600');
  await Promise.all([op.waitForURL(/\/actions\/\d+$/), op.click('#launch-submit')]);
  const id = /\/actions\/(\d+)$/.exec(op.url())?.[1] as string;
  expect(await stateOf(id)).toBe('pending');
  await Promise.all([op.waitForURL(`**/actions/${id}`), op.click('#cancel-action')]);
  expect(await stateOf(id)).toBe('cancelled');
  expect(await op.locator('#action-state').textContent()).toBe('cancelled');
});

it('a POST without its CSRF token or from another origin is refused; 20 MB is refused and the console stays up', async () => {
  await op.goto('/');
  const token = await csrfOf(op);
  const req = op.context().request;
  const before = await actionCount();
  const noToken = await req.post('/launch/noop', { form: { 'opt.tenant': 'ta' }, maxRedirects: 0 });
  expect(noToken.status()).toBe(403);
  expect(await noToken.text()).toMatch(/CSRF/);
  const crossOrigin = await req.post('/launch/noop', {
    form: { 'opt.tenant': 'ta', _csrf: token },
    headers: { origin: 'http://evil.example' },
    maxRedirects: 0,
  });
  expect(crossOrigin.status()).toBe(403);
  const huge = await req.post('/launch/noop', {
    form: { 'opt.tenant': 'ta', _csrf: token, 'arg.message': 'x'.repeat(20 * 1024 * 1024) },
    maxRedirects: 0,
  });
  expect(huge.status()).toBe(413);
  expect(await huge.text()).toMatch(/larger than the 1 MB the console accepts/);
  expect(await actionCount()).toBe(before);
  expect((await req.get('/api/overview')).status()).toBe(200);
});

/** Sends one control command from the overview's row of subscriber b; resolves with the outcome shown. */
async function controlB(command: string, family = ''): Promise<string> {
  await root.goto('/');
  const form = root.locator('form[data-control-of="b"]');
  await form.locator('select[name="command"]').selectOption(command);
  await form.locator('select[name="family"]').selectOption(family);
  await Promise.all([root.waitForURL('**/workers/control'), form.locator('button').click()]);
  return (await root.locator('#control-outcome').textContent()) ?? '';
}

async function workersList(): Promise<string> {
  return (await runCmq(['workers', 'list', '--config-dir', pipe.dir])).stdout;
}

/** `cmq check`'s WARNING for a pause of control on subscriber b by console:root (who and when). */
const PAUSE_WARNING = new RegExp(
  `control paused on subscriber b@${hostname()} by console:root at \\d{4}-\\d\\d-\\d\\dT`,
);

async function check(): Promise<{ code: number | null; stdout: string }> {
  return runCmq(['check', '--config-dir', pipe.dir]);
}

it('from the overview: pause control (cmq check warns, naming who and when) and resume on subscriber b, then drain it (exit 0, nothing lost)', async () => {
  await waitFor(
    async () => {
      await root.goto('/');
      return (await root.locator('form[data-control-of="b"]').count()) === 1;
    },
    20_000,
    'subscriber b on the overview',
  );
  expect(await alice.locator('form.control').count()).toBe(0);
  expect(await controlB('pause', 'control')).toBe('ok');
  await waitFor(async () => /control by console:root/.test(await workersList()), 10_000, 'b paused by console:root');
  // `cmq check` names the pause (no pinger runs here: the verdict is CRITICAL for that, the pause a WARNING in it).
  let paused = { code: null as number | null, stdout: '' };
  await waitFor(async () => PAUSE_WARNING.test((paused = await check()).stdout), 10_000, 'cmq check naming the pause');
  expect(paused.code).toBeGreaterThanOrEqual(1);
  expect(await controlB('resume', 'control')).toBe('ok');
  await waitFor(async () => !/control by/.test(await workersList()), 10_000, 'b resumed');
  await waitFor(async () => !PAUSE_WARNING.test((await check()).stdout), 10_000, 'cmq check without the pause');
  const ids = await pipe.submit(
    Array.from({ length: 20 }, () => ({
      type: 'noop',
      tenant: 'ta',
      args: { sleep_ms: 200, family: 'control' as const },
    })),
  );
  expect(await controlB('drain')).toBe('ok');
  expect(await subB.exitCode(15_000)).toBe(0);
  await pipe.allFinal(30_000, ids);
  const { rows } = await pipe.pool.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM actions WHERE id = ANY($1::bigint[]) GROUP BY state',
    [ids],
  );
  expect(rows).toEqual([{ state: 'succeeded', n: 20 }]);
  const audit = await pipe.pool.query<{ action: string; actor: string; outcome: string }>(
    "SELECT action, actor, outcome FROM audit_log WHERE action LIKE 'workers.%' ORDER BY id",
  );
  expect(audit.rows.map((r) => [r.action, r.actor, r.outcome])).toEqual([
    ['workers.pause', 'root', 'ok'],
    ['workers.resume', 'root', 'ok'],
    ['workers.drain', 'root', 'ok'],
  ]);
});

it("server.terminate is not submitted until the server's name is typed; then the local server is terminated", async () => {
  const launch = await runCmq([
    'call',
    'server.launch',
    '--tenant',
    'ta',
    '--args',
    JSON.stringify({ account, name: 'victim' }),
    '--wait',
    '--timeout',
    '90',
    '--config-dir',
    pipe.dir,
  ]);
  expect(launch.code).toBe(0);
  const { rows: launched } = await pipe.pool.query<{ result: { server: string } }>(
    'SELECT result FROM actions WHERE id = $1',
    [launch.stdout.split('\n')[0]],
  );
  const server = launched[0]?.result.server as string;
  await op.goto('/launch/server.terminate');
  await op.fill('[id="f-arg.account"]', account);
  await op.fill('[id="f-arg.server"]', server);
  expect(await op.locator('#launch-submit').isDisabled()).toBe(true);
  await op.fill('#f-confirm', 'not-the-server');
  expect(await op.locator('#launch-submit').isDisabled()).toBe(true);
  // Posted anyway (as a script could): refused beside the confirmation, nothing inserted.
  const token = await csrfOf(op);
  const before = await actionCount();
  const forced = await op.context().request.post('/launch/server.terminate', {
    form: { _csrf: token, 'opt.tenant': 'ta', 'arg.account': account, 'arg.server': server, confirm: 'nope' },
    maxRedirects: 0,
  });
  expect(forced.status()).toBe(400);
  expect(await forced.text()).toMatch(/type the server&#39;s name|type the server's name/);
  expect(await actionCount()).toBe(before);
  await op.fill('#f-confirm', server);
  expect(await op.locator('#launch-submit').isDisabled()).toBe(false);
  await op.screenshot({ path: join(SHOTS, 'terminate-confirm.png'), fullPage: true });
  await Promise.all([op.waitForURL(/\/actions\/\d+$/), op.click('#launch-submit')]);
  await waitFor(
    async () => (await op.locator('#action-state').textContent()) === 'succeeded',
    60_000,
    'terminate succeeded',
  );
  await waitFor(
    async () => ((await localCloud?.listServers()) ?? []).find((s) => s.id === server)?.state === 'terminated',
    20_000,
    'the local server terminated',
  );
}, 120_000);

it("a tenant's job stats reset shows how many rows it removes, then removes only those, audited", async () => {
  const { rows: old } = await pipe.pool.query<{ id: string }>(
    `INSERT INTO actions (tenant_id, type, family, args, state, created_at, finished_at)
     SELECT 'tb', 'noop', 'control', '{}', 'succeeded', now() - interval '3 days', now() - interval '3 days'
     FROM generate_series(1, 7) RETURNING id::text`,
  );
  const { rows: waiting } = await pipe.pool.query<{ id: string }>(
    `INSERT INTO actions (tenant_id, type, family, args, state, created_at, not_before)
     VALUES ('tb', 'noop', 'control', '{}', 'pending', now() - interval '3 days', now() + interval '1 day') RETURNING id::text`,
  );
  const before = new Date(Date.now() - 86_400_000).toISOString();
  await bob.goto('/tenants');
  await bob.locator('tr[data-tenant="tb"] a.reset').click();
  await bob.fill('#reset-ask input[name="before"]', before);
  await Promise.all([bob.waitForURL(/before=/), bob.click('#reset-ask button')]);
  expect(await bob.locator('#reset-count').textContent()).toBe('7');
  expect((await bob.context().request.get(`/tenants/ta/reset?before=${before}`)).status()).toBe(403);
  await Promise.all([bob.waitForURL(/\/tenants\?reset=tb/), bob.click('#reset-submit')]);
  const { rows: left } = await pipe.pool.query<{ id: string }>(
    'SELECT id::text FROM actions WHERE id = ANY($1::bigint[])',
    [[...old.map((r) => r.id), waiting[0]?.id]],
  );
  expect(left.map((r) => r.id)).toEqual([waiting[0]?.id]);
  const { rows: audit } = await pipe.pool.query<{ actor: string; outcome: string; detail: { actions: number } }>(
    "SELECT actor, outcome, detail FROM audit_log WHERE action = 'history.prune' AND tenant = 'tb'",
  );
  expect(audit.map((a) => [a.actor, a.outcome, a.detail.actions])).toEqual([['bob', 'ok', 7]]);
});

it('an admin adds a tenant, is told what disabling does to its waiting actions, disables and enables it', async () => {
  await root.goto('/tenants');
  await root.fill('#tenant-add input[name="id"]', 'tc');
  await root.fill('#tenant-add input[name="name"]', 'Tenant C');
  await Promise.all([root.waitForURL('**/tenants'), root.click('#tenant-add button')]);
  await root.locator('tr[data-tenant="tc"]').waitFor();
  await pipe.pool.query(
    `INSERT INTO actions (tenant_id, type, family, args, state, not_before)
     SELECT 'tc', 'noop', 'control', '{}', 'pending', now() + interval '1 day' FROM generate_series(1, 2)`,
  );
  await root.click('tr[data-tenant="tc"] a.toggle');
  expect(await root.locator('#tenant-waiting').textContent()).toBe('2');
  await Promise.all([root.waitForURL('**/tenants'), root.click('#tenant-toggle-submit')]);
  const enabled = async (): Promise<boolean | undefined> =>
    (await pipe.pool.query<{ enabled: boolean }>("SELECT enabled FROM tenants WHERE id = 'tc'")).rows[0]?.enabled;
  expect(await enabled()).toBe(false);
  await root.click('tr[data-tenant="tc"] a.toggle');
  await Promise.all([root.waitForURL('**/tenants'), root.click('#tenant-toggle-submit')]);
  expect(await enabled()).toBe(true);
  const { rows } = await pipe.pool.query<{ action: string; actor: string }>(
    "SELECT action, actor FROM audit_log WHERE target = 'tc' ORDER BY id",
  );
  expect(rows.map((r) => [r.action, r.actor])).toEqual([
    ['tenant.add', 'root'],
    ['tenant.disable', 'root'],
    ['tenant.enable', 'root'],
  ]);
});

it('an admin adds a user and disables it from the users page, audited', async () => {
  await root.goto('/users');
  await root.fill('#user-add input[name="name"]', 'carol');
  await root.selectOption('#user-add select[name="role"]', 'operator');
  await root.fill('#user-add input[name="tenant"]', 'ta');
  await root.fill('#user-add input[name="password"]', PASSWORD);
  await Promise.all([root.waitForURL('**/users'), root.click('#user-add button')]);
  const carol = await loggedIn('carol');
  expect(await carol.locator('nav a[href="/launch"]').count()).toBe(1);
  await root.goto('/users');
  await Promise.all([root.waitForURL('**/users'), root.click('tr[data-user="carol"] button.disable')]);
  expect(await root.locator('tr[data-user="carol"] td:nth-child(4)').textContent()).toBe('yes');
  const { rows } = await pipe.pool.query<{ action: string; actor: string }>(
    "SELECT action, actor FROM audit_log WHERE target = 'carol' AND action LIKE 'user.%' ORDER BY id",
  );
  expect(rows.map((r) => [r.action, r.actor])).toEqual([
    ['user.add', 'root'],
    ['user.disable', 'root'],
  ]);
});

it('a dead message is published again from the dead view and its action succeeds', async () => {
  const body = Buffer.from(JSON.stringify({ type: 'noop', tenant: 'ta', args: {} }));
  const { rows } = await pipe.pool.query<{ id: string }>(
    `INSERT INTO dead_letters (reason, routing_key, tenant_id, body, body_bytes, worker)
     VALUES ('tenant: unknown tenant', 'control.noop.ta', 'ta', $1, $2, 'test') RETURNING id::text`,
    [body, body.length],
  );
  const id = rows[0]?.id as string;
  await bob.goto('/');
  const token = await csrfOf(bob);
  const other = await bob
    .context()
    .request.post(`/dead/messages/${id}/replay`, { form: { _csrf: token }, maxRedirects: 0 });
  expect(other.status()).toBe(403);
  await op.goto('/dead');
  await Promise.all([op.waitForURL('**/dead'), op.click(`button.replay-message[data-message="m${id}"]`)]);
  await waitFor(
    async () =>
      (
        await pipe.pool.query<{ state: string }>('SELECT state FROM actions WHERE idempotency_key = $1', [
          `amqp:dead-letter-m${id}`,
        ])
      ).rows[0]?.state === 'succeeded',
    20_000,
    'the replayed message ran',
  );
  const { rows: audit } = await pipe.pool.query<{ actor: string; outcome: string }>(
    "SELECT actor, outcome FROM audit_log WHERE action = 'dead.message.replay' AND target = $1",
    [`m${id}`],
  );
  expect(audit.map((a) => [a.actor, a.outcome])).toEqual([['op', 'ok']]);
});
