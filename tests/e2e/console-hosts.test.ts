import { copyFileSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/private-servers';
import { join } from 'node:path';
import { addUser } from '@cmq/actions';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, logIn, newPage, screenshotDir } from '../helpers/browser';
import { tempDir, writeConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { runCmq, spawnBin } from '../helpers/process';
import { Sshd } from '../helpers/sshd';

/**
 * Nodes and guests administered from the console in chromium against a real pipeline and sshd:
 * an admin adds a node, edits its status command (node.status then runs the new one) and
 * deactivates it; an operator adds and deactivates a guest of its tenant; bad fields are shown
 * beside themselves with nothing stored; the private key never comes back; viewers, other
 * tenants' users and tenant-bound admins get 403 on every new POST; no CSRF token, no act.
 */
const SHOTS = screenshotDir(__filename);
const PASSWORD = 'correct horse battery';
let pipe: Pipeline;
let sshd: Sshd;
let base: string;
let browser: Browser;
let root: Page;
let op: Page;
let alice: Page;
let bob: Page;
let tad: Page;
/** Every page the test saw, to look for the key in. */
const seen: string[] = [];

async function loggedIn(name: string): Promise<Page> {
  const { page } = await newPage(browser, base);
  page.on('response', (r) => {
    void r.text().then(
      (t) => seen.push(t),
      () => undefined,
    );
  });
  await logIn(page, name, PASSWORD);
  return page;
}

/** Clicks a button whose form posts and redirects to the page it is on; resolves once the new page loaded. */
async function clickAndReload(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForEvent('framenavigated'), page.click(selector)]);
  await page.waitForLoadState('load');
}

async function csrfOf(page: Page): Promise<string> {
  return (await page.locator('meta[name="csrf-token"]').getAttribute('content')) ?? '';
}

function cmq(args: string[]): ReturnType<typeof runCmq> {
  return runCmq([...args, '--config-dir', pipe.dir]);
}

async function nodeShow(name: string): Promise<Record<string, unknown> | undefined> {
  const r = await cmq(['nodes', 'show', name]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
}

async function auditRows(
  where: string,
): Promise<Array<{ actor: string; action: string; outcome: string; text: string }>> {
  const { rows } = await pipe.pool.query<{ actor: string; action: string; outcome: string; text: string }>(
    `SELECT actor, action, outcome, row_to_json(audit_log)::text AS text FROM audit_log WHERE ${where} ORDER BY id`,
  );
  return rows;
}

/** The lines of the test's private key that would give it away (not its armour). */
function keyLines(): string[] {
  return sshd.clientKey.privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  sshd = await Sshd.start();
  pipe = await Pipeline.create({
    config: {
      'km-client.cfg': {},
      'provisioning.cfg': { mode: 'static', SOURCE_CIDR: '127.0.0.0/8' },
    },
  });
  const keys = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': '1s' };
  writeConfig({ 'console.properties': { ...own, 'console.listen': `127.0.0.1:${port}` } }, pipe.dir);
  await pipe.addTenants('ta', 'tb');
  await addUser(pipe.pool, { name: 'root', role: 'admin', tenant: null, password: PASSWORD });
  await addUser(pipe.pool, { name: 'op', role: 'operator', tenant: 'ta', password: PASSWORD });
  await addUser(pipe.pool, { name: 'alice', role: 'viewer', tenant: 'ta', password: PASSWORD });
  await addUser(pipe.pool, { name: 'bob', role: 'operator', tenant: 'tb', password: PASSWORD });
  await addUser(pipe.pool, { name: 'tad', role: 'admin', tenant: 'ta', password: PASSWORD });
  await pipe.startPublisherAndSubscriber();
  pipe.processes.push(spawnBin('console', ['--config-dir', pipe.dir]));
  const [b] = await Promise.all([launchBrowser(), pipe.running('console', 'main')]);
  browser = b;
  [root, op, alice, bob, tad] = (await Promise.all(['root', 'op', 'alice', 'bob', 'tad'].map(loggedIn))) as [
    Page,
    Page,
    Page,
    Page,
    Page,
  ];
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await pipe?.destroy();
  await sshd?.stop();
});

/** Fills the node form's fields (by their names) on `page`. */
async function fillNode(page: Page, fields: Record<string, string>): Promise<void> {
  for (const [name, value] of Object.entries(fields)) await page.fill(`[id="f-${name}"]`, value);
}

function nodeFields(name: string): Record<string, string> {
  return {
    name,
    address: '127.0.0.1',
    port: String(sshd.port),
    user: sshd.user,
    hostKey: sshd.hostKey.fingerprint,
    privateKey: sshd.clientKey.privateKey,
    startCmd: 'true',
    stopCmd: 'true',
    statusCmd: 'echo first',
  };
}

it('an admin adds a node, edits its status command (node.status runs it), deactivates it (not started), audited', async () => {
  await root.goto('/cloud');
  await Promise.all([root.waitForURL('**/nodes/new'), root.click('#node-add')]);
  await fillNode(root, nodeFields('n1'));
  await Promise.all([root.waitForURL(/\/cloud/), root.click('#node-submit')]);
  await root.locator('tr[data-node="n1"]').waitFor();
  expect(await nodeShow('n1')).toMatchObject({ name: 'n1', status_cmd: 'echo first', active: true });
  const { rows } = await pipe.pool.query<{ k: string }>("SELECT private_key AS k FROM nodes WHERE name = 'n1'");
  expect(rows[0]?.k).toMatch(/^v1:k1:/);

  await Promise.all([root.waitForURL('**/nodes/n1/edit'), root.click('tr[data-node="n1"] a.edit')]);
  expect(await root.inputValue('[id="f-privateKey"]')).toBe('');
  expect(await root.inputValue('[id="f-statusCmd"]')).toBe('echo first');
  await root.fill('[id="f-statusCmd"]', 'echo edited');
  await root.screenshot({ path: join(SHOTS, 'node-edit.png'), fullPage: true });
  await Promise.all([root.waitForURL(/\/cloud/), root.click('#node-submit')]);
  expect(await nodeShow('n1')).toMatchObject({ status_cmd: 'echo edited', start_cmd: 'true' });
  const status = await cmq(['nodes', 'status', 'n1', '--wait', '--timeout', '30']);
  expect(status.code).toBe(0);
  expect(await nodeShow('n1')).toMatchObject({ last_action: 'status', last_exit_code: 0, last_output: 'edited\n' });

  await clickAndReload(root, 'tr[data-node="n1"] button.deactivate');
  expect(await root.locator('tr[data-node="n1"] td:nth-child(5)').textContent()).toBe('no');
  const refused = await cmq(['nodes', 'start', 'n1', '--wait', '--timeout', '30']);
  expect(refused.code).toBe(1);
  expect(refused.stdout).toContain('node n1 is inactive: node.start was not run');
  await root.screenshot({ path: join(SHOTS, 'nodes.png'), fullPage: true });

  const audit = await auditRows("target = 'n1'");
  expect(audit.map((a) => [a.actor, a.action, a.outcome])).toEqual([
    ['root', 'node.add', 'ok'],
    ['root', 'node.set', 'ok'],
    ['root', 'node.deactivate', 'ok'],
  ]);
  expect(audit.every((a) => a.text.includes('127.0.0.1'))).toBe(true);
  expect(audit[1]?.text).toContain('status_cmd');
}, 60_000);

it('a bad field is shown beside itself, the others kept, the key not; nothing is stored', async () => {
  await root.goto('/nodes/new');
  await fillNode(root, { ...nodeFields('n2'), address: 'not a host!' });
  await clickAndReload(root, '#node-submit');
  const error = root.locator('[id="error-address"]');
  await error.waitFor();
  expect(await error.textContent()).toMatch(/address: an IPv4 or IPv6 address or a host name/);
  expect(await root.locator('.field-error').count()).toBe(1);
  expect(await root.inputValue('[id="f-address"]')).toBe('not a host!');
  expect(await root.inputValue('[id="f-statusCmd"]')).toBe('echo first');
  expect(await root.inputValue('[id="f-privateKey"]')).toBe('');
  await root.screenshot({ path: join(SHOTS, 'node-error.png'), fullPage: true });
  expect(await nodeShow('n2')).toBeUndefined();

  await fillNode(root, { ...nodeFields('n2'), privateKey: 'not a key' });
  await clickAndReload(root, '#node-submit');
  expect(await root.locator('[id="error-privateKey"]').textContent()).toMatch(/not a PEM or OpenSSH private key/);
  expect(await nodeShow('n2')).toBeUndefined();
  const refused = await auditRows("action = 'node.add' AND outcome = 'refused'");
  expect(refused.map((a) => a.actor)).toEqual(['root', 'root']);
});

it('an operator of tenant ta adds a guest and deactivates it (guest.exec then refused), audited', async () => {
  await op.goto('/cloud');
  await Promise.all([op.waitForURL('**/guests/new'), op.click('#guest-add')]);
  expect(await op.locator('[id="f-tenant"] option').allTextContents()).toEqual(['ta']);
  const fields: Record<string, string> = {
    address: '127.0.0.1',
    id: 'web1',
    port: String(sshd.port),
    user: sshd.user,
    hostKey: sshd.hostKey.fingerprint,
    privateKey: sshd.clientKey.privateKey,
  };
  for (const [name, value] of Object.entries(fields)) await op.fill(`[id="f-${name}"]`, value);
  await Promise.all([op.waitForURL(/\/cloud\?tenant=ta/), op.click('#guest-submit')]);
  await op.locator('tr[data-guest="ta/web1"]').waitFor();
  // The store's refusals land beside the field they concern: a taken id, an unknown tenant.
  const refusedBy = async (page: Page, form: Record<string, string>): Promise<Record<string, string>> => {
    const r = await page.context().request.post('/guests', {
      form: { ...fields, ...form, _csrf: await csrfOf(page) },
      headers: { accept: 'application/json' },
      maxRedirects: 0,
    });
    expect(r.status()).toBe(400);
    return ((await r.json()) as { errors: Record<string, string> }).errors;
  };
  expect(await refusedBy(op, { tenant: 'ta' })).toEqual({ id: 'guest "web1" of tenant "ta" already exists' });
  await root.goto('/cloud');
  expect(await refusedBy(root, { tenant: 'nosuch', id: 'web9' })).toEqual({ tenant: 'unknown tenant "nosuch"' });
  const ran = await cmq([
    'call',
    'guest.exec',
    '--tenant',
    'ta',
    '--args',
    '{"guest":"web1","command":"echo hi"}',
    '--wait',
  ]);
  expect(ran.code).toBe(0);
  const offered = async (): Promise<string[]> => {
    await op.goto('/launch/guest.exec');
    const options = await op.locator('datalist#list-guest option').all();
    return Promise.all(options.map(async (o) => (await o.getAttribute('value')) ?? ''));
  };
  expect(await offered()).toEqual(['web1']);

  await op.goto('/cloud');
  await clickAndReload(op, 'tr[data-guest="ta/web1"] button.deactivate');
  // The launch form no longer offers a guest whose actions would be refused.
  expect(await offered()).toEqual([]);
  const listed = JSON.parse((await cmq(['guests', 'list', '--tenant', 'ta', '--json'])).stdout) as { active: boolean };
  expect(listed.active).toBe(false);
  const refused = await cmq([
    'call',
    'guest.exec',
    '--tenant',
    'ta',
    '--args',
    '{"guest":"web1","command":"echo never"}',
    '--wait',
  ]);
  expect(refused.code).toBe(1);
  expect(refused.stdout).toContain('guest "web1" of tenant "ta" is inactive');
  const audit = await auditRows("target = 'web1'");
  expect(audit.map((a) => [a.actor, a.action, a.outcome])).toEqual([
    ['op', 'guest.add', 'ok'],
    ['op', 'guest.add', 'refused'],
    ['op', 'guest.deactivate', 'ok'],
  ]);
}, 60_000);

it('viewers, other tenants’ users and tenant-bound admins get 403 on every new POST; no node name shown', async () => {
  const nodeRoutes: Array<[string, Record<string, string>]> = [
    ['/nodes', { ...nodeFields('evil') }],
    ['/nodes/n1', { statusCmd: 'touch /tmp/pwned' }],
    ['/nodes/n1/active', { active: 'true' }],
  ];
  const guestRoutes: Array<[string, Record<string, string>]> = [
    ['/guests', { tenant: 'ta', address: '127.0.0.1', id: 'evil', user: 'x', privateKey: sshd.clientKey.privateKey }],
    ['/guests/ta/web1/active', { active: 'true' }],
  ];
  const probes: Array<[Page, Array<[string, Record<string, string>]>]> = [
    [alice, [...nodeRoutes, ...guestRoutes]],
    [bob, [...nodeRoutes, ...guestRoutes]],
    [op, nodeRoutes],
    [tad, nodeRoutes],
  ];
  for (const [page, routes] of probes) {
    await page.goto('/');
    const token = await csrfOf(page);
    for (const [path, form] of routes) {
      const r = await page.context().request.post(path, { form: { ...form, _csrf: token }, maxRedirects: 0 });
      expect([path, r.status()]).toEqual([path, 403]);
      expect(await r.text()).not.toContain('echo edited');
    }
    for (const path of ['/nodes/new', '/nodes/n1/edit']) {
      const r = await page.context().request.get(path);
      expect([path, r.status()]).toEqual([path, 403]);
      expect(await r.text()).not.toContain('n1');
    }
    await page.goto('/cloud');
    expect(await page.locator('#nodes').count()).toBe(0);
    expect(await page.locator('form.host-toggle[action^="/nodes"]').count()).toBe(0);
  }
  expect(await alice.locator('#guest-add').count()).toBe(0);
  expect(await alice.locator('form.host-toggle').count()).toBe(0);
  expect(await bob.locator('tr[data-guest="ta/web1"]').count()).toBe(0);
  expect(await nodeShow('evil')).toBeUndefined();
  expect(await nodeShow('n1')).toMatchObject({ status_cmd: 'echo edited', active: false });
  const guests = (await cmq(['guests', 'list', '--json'])).stdout;
  expect(guests).not.toContain('evil');
  expect(guests).toContain('"active":false');
});

it('a POST without its CSRF token is refused and changes nothing', async () => {
  for (const [page, path] of [
    [root, '/nodes/n1/active'],
    [op, '/guests/ta/web1/active'],
  ] as const) {
    const r = await page.context().request.post(path, { form: { active: 'true' }, maxRedirects: 0 });
    expect([path, r.status()]).toEqual([path, 403]);
    expect(await r.text()).toMatch(/CSRF/);
  }
  expect(await nodeShow('n1')).toMatchObject({ active: false });
});

it('the private key is in no page, log file or audit row', async () => {
  const key = keyLines();
  expect(seen.length).toBeGreaterThan(10);
  const audit = (await auditRows('true')).map((a) => a.text);
  const logs = filesUnder(pipe.logDir).map((f) => readFileSync(f, 'utf8'));
  for (const text of [...seen, ...audit, ...logs]) {
    expect(text).not.toContain('PRIVATE KEY-----\n');
    for (const line of key) expect(text).not.toContain(line);
  }
});

it('a console without a keyring says so on the form and stores no node', async () => {
  const port = await freePort();
  const dir = tempDir();
  for (const f of readdirSync(pipe.dir).filter((n) => /\.(properties|cfg)$/.test(n)))
    copyFileSync(join(pipe.dir, f), join(dir, f));
  writeFileSync(join(dir, 'km-client.cfg'), '');
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': '1s' };
  writeConfig({ 'console.properties': { ...own, 'console.listen': `127.0.0.1:${port}` } }, dir);
  const second = spawnBin('console', ['--config-dir', dir]);
  pipe.processes.push(second);
  await pipe.running('console', 'main', second.pid);
  const { page } = await newPage(browser, `http://127.0.0.1:${port}`);
  await logIn(page, 'root', PASSWORD);
  await page.goto('/nodes/new');
  expect(await page.locator('#key-problem').textContent()).toMatch(/the console has no keyring \(km.keys_file/);
  expect(await page.locator('[id="f-privateKey"]').isDisabled()).toBe(true);
  const token = await csrfOf(page);
  const r = await page.context().request.post('/nodes', {
    form: { ...nodeFields('nokey'), _csrf: token },
    headers: { accept: 'application/json' },
    maxRedirects: 0,
  });
  expect(r.status()).toBe(400);
  expect(((await r.json()) as { errors: Record<string, string> }).errors.privateKey).toMatch(/no keyring/);
  expect(await nodeShow('nokey')).toBeUndefined();
});
