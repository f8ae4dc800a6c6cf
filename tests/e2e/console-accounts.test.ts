import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, createApiToken } from '@cmq/actions';
import { Keyring } from '@cmq/common';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, logIn, newPage, screenshotDir } from '../helpers/browser';
import { writeConfig } from '../helpers/config-dir';
import { FakeEc2 } from '../helpers/fake-ec2';
import { textsUnder } from '../helpers/files';
import { Pipeline } from '../helpers/pipeline';
import { freePort } from '../helpers/private-servers';
import { type Spawned, recordingCmq, runCmq, spawnBin } from '../helpers/process';
import { makeKeyPair } from '../helpers/sshd';

/**
 * Cloud accounts administered from the console in a real chromium against real services: add
 * (local with a pasted key pair; ec2 refused for a bad credential, then added), rotate (the next
 * action signs with the new key), remove after typing the id; the refusals (viewer, another
 * tenant, no CSRF token); no credential in any page, JSON answer, audit row or log. The ec2
 * account talks to tests/helpers/fake-ec2.ts: a fake, because real EC2 cannot be reached here;
 * it records the access key id of every request's SigV4 header.
 */
const SHOTS = screenshotDir(__filename);
const PASSWORD = 'correct horse battery';
const ACCESS_1 = 'AKIACONSOLEFIRSTKEY1';
const SECRET_1 = 'consoleFirstSecret/zzSECRET1zz';
const ACCESS_2 = 'AKIACONSOLESECONDKY2';
const SECRET_2 = 'consoleSecondSecret/zzSECRET2zz';
const BAD_SECRET = 'tooShortSecr3t';
const BMC_PASSWORD = 'bmcPassw0rdZZ';
let pipe: Pipeline;
let fake: FakeEc2;
let keysFile: string;
let browser: Browser;
let op: Page;
let root: Page;
let alice: Page;
let bob: Page;
let localKey: { privateKey: string; publicKey: string };
let ec2Account = '';
let localAccount = '';
/** Every page, JSON answer and cmq output the test saw: searched for credentials at the end. */
const seen: string[] = [];
const cmq = recordingCmq(() => pipe.dir, seen);

async function loggedIn(name: string): Promise<Page> {
  const { page } = await newPage(browser, `http://127.0.0.1:${consolePort}`);
  await logIn(page, name, PASSWORD);
  return page;
}
let consolePort = 0;

async function csrfOf(page: Page): Promise<string> {
  return (await page.locator('meta[name="csrf-token"]').getAttribute('content')) ?? '';
}

/** Keeps the page's HTML for the final search. */
async function snap(page: Page): Promise<void> {
  seen.push(await page.content());
}

async function accountRows(): Promise<Array<{ id: string; tenant_id: string; provider: string; credentials: string }>> {
  const { rows } = await pipe.pool.query<{ id: string; tenant_id: string; provider: string; credentials: string }>(
    'SELECT id::text, tenant_id, provider, credentials FROM accounts ORDER BY id',
  );
  return rows;
}

function decrypt(ciphertext: string): Record<string, unknown> {
  const keyring = Keyring.fromText(readFileSync(keysFile, 'utf8'), 'k1');
  return JSON.parse(keyring.decrypt(ciphertext).toString('utf8')) as Record<string, unknown>;
}

/** Runs sync.servers of the ec2 account to its end; the fake's calls it made. */
async function syncEc2(): Promise<Array<string | undefined>> {
  const from = fake.calls.length;
  const res = await cmq([
    'call',
    'sync.servers',
    '--tenant',
    'ta',
    '--args',
    JSON.stringify({ account: ec2Account }),
    '--wait',
    '--timeout',
    '30',
  ]);
  expect(res.code).toBe(0);
  return fake.calls.slice(from).map((c) => c.accessKeyId);
}

beforeAll(async () => {
  consolePort = await freePort();
  fake = await new FakeEc2().start();
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': 3 },
      // No scheduled sync: the only calls the fake receives are the test's own actions.
      'publisher.properties': { 'sync.enabled': 'false' },
    },
  });
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics') };
  writeConfig({ 'console.properties': { ...own, 'console.listen': `127.0.0.1:${consolePort}` } }, pipe.dir);
  keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  localKey = makeKeyPair(pipe.dir, 'console_local_key');
  await pipe.addTenants('ta', 'tb');
  await addUser(pipe.pool, { name: 'root', role: 'admin', tenant: null, password: PASSWORD });
  await addUser(pipe.pool, { name: 'op', role: 'operator', tenant: 'ta', password: PASSWORD });
  await addUser(pipe.pool, { name: 'alice', role: 'viewer', tenant: 'ta', password: PASSWORD });
  await addUser(pipe.pool, { name: 'bob', role: 'operator', tenant: 'tb', password: PASSWORD });
  pipe.start('publisher');
  pipe.start('subscriber');
  const consoleProc: Spawned = spawnBin('console', ['--config-dir', pipe.dir]);
  pipe.processes.push(consoleProc);
  const [b] = await Promise.all([
    launchBrowser(),
    pipe.running('subscriber', 'default'),
    pipe.running('publisher', 'main'),
    pipe.running('console', 'main'),
  ]);
  browser = b;
  [op, alice, bob, root] = (await Promise.all(['op', 'alice', 'bob', 'root'].map(loggedIn))) as [
    Page,
    Page,
    Page,
    Page,
  ];
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await pipe?.destroy();
  await fake?.close();
});

it('an operator adds a local account with a pasted key pair; it is stored encrypted, audited', async () => {
  await op.goto('/cloud');
  await Promise.all([op.waitForURL('**/cloud/accounts/new'), op.click('#account-add-link')]);
  expect(await op.inputValue('#f-tenant')).toBe('ta');
  await op.fill('#f-region', 'lo');
  await op.fill('[id="f-cred.ssh_private_key"]', localKey.privateKey);
  await op.fill('[id="f-cred.ssh_public_key"]', localKey.publicKey.trim());
  await Promise.all([op.waitForURL(/\/cloud\?tenant=ta$/), op.click('#account-add-submit')]);
  await snap(op);
  const [row] = await accountRows();
  expect(row).toMatchObject({ tenant_id: 'ta', provider: 'local' });
  localAccount = row?.id as string;
  expect(row?.credentials.startsWith('v1:k1:')).toBe(true);
  expect(decrypt(row?.credentials as string)).toEqual({
    ssh_private_key: localKey.privateKey,
    ssh_public_key: localKey.publicKey.trim(),
  });
  expect(await op.locator(`#accounts tr[data-account="${localAccount}"] td:nth-child(3)`).textContent()).toBe('local');
  const { rows } = await pipe.pool.query<{ actor: string; outcome: string; target: string; detail: object }>(
    "SELECT actor, outcome, target, detail FROM audit_log WHERE action = 'account.add'",
  );
  expect(rows).toEqual([
    {
      actor: 'op',
      outcome: 'ok',
      target: `account ${localAccount}`,
      detail: expect.objectContaining({ provider: 'local', region: 'lo', key_id: 'k1', via: 'console' }) as object,
    },
  ]);
});

it('an ec2 account with a bad secret: the error beside the field, nothing stored, the secret not echoed; fixed, added', async () => {
  await op.goto('/cloud/accounts/new');
  await op.selectOption('#provider-choice select[name="provider"]', 'ec2');
  await Promise.all([op.waitForURL(/provider=ec2/), op.click('#provider-choice button')]);
  await op.fill('#f-region', 'us-east-1');
  await op.fill('#f-endpoint', fake.endpoint);
  await op.fill('[id="f-cred.access_key_id"]', ACCESS_1);
  await op.fill('[id="f-cred.secret_access_key"]', BAD_SECRET);
  const before = (await accountRows()).length;
  await Promise.all([op.waitForLoadState('load'), op.click('#account-add-submit')]);
  const error = op.locator('[id="error-cred.secret_access_key"]');
  await error.waitFor();
  expect(await error.textContent()).toMatch(/16/);
  expect(await op.locator('.field-error').count()).toBe(1);
  expect((await accountRows()).length).toBe(before);
  const html = await op.content();
  seen.push(html);
  expect(html).not.toContain(BAD_SECRET);
  expect(html).not.toContain(ACCESS_1);
  // What is not a credential stays typed; the credentials are empty again.
  expect(await op.inputValue('#f-region')).toBe('us-east-1');
  expect(await op.inputValue('[id="f-cred.access_key_id"]')).toBe('');
  expect(await op.inputValue('[id="f-cred.secret_access_key"]')).toBe('');
  await op.screenshot({ path: join(SHOTS, 'ec2-bad-secret.png'), fullPage: true });
  await op.fill('[id="f-cred.access_key_id"]', ACCESS_1);
  await op.fill('[id="f-cred.secret_access_key"]', SECRET_1);
  await Promise.all([op.waitForURL(/\/cloud\?tenant=ta$/), op.click('#account-add-submit')]);
  await snap(op);
  const ec2 = (await accountRows()).find((r) => r.provider === 'ec2');
  ec2Account = ec2?.id as string;
  expect(decrypt(ec2?.credentials as string)).toEqual({ access_key_id: ACCESS_1, secret_access_key: SECRET_1 });
  const refused = await pipe.pool.query<{ outcome: string; detail: { errors: Record<string, string> } }>(
    "SELECT outcome, detail FROM audit_log WHERE action = 'account.add' AND outcome = 'refused'",
  );
  expect(refused.rows.map((r) => Object.keys(r.detail.errors))).toEqual([['cred.secret_access_key']]);
  expect(await syncEc2()).toEqual(expect.arrayContaining([ACCESS_1]));
});

it('rotating the ec2 credentials: a bad one changes nothing; then the next action signs with the new key', async () => {
  const stored = (await accountRows()).find((r) => r.id === ec2Account)?.credentials;
  await op.goto('/cloud?tenant=ta');
  await Promise.all([
    op.waitForURL(`**/cloud/accounts/${ec2Account}/rotate`),
    op.click(`#accounts tr[data-account="${ec2Account}"] a.rotate`),
  ]);
  await snap(op);
  await op.fill('[id="f-cred.access_key_id"]', 'not a key id!');
  await op.fill('[id="f-cred.secret_access_key"]', SECRET_2);
  await Promise.all([op.waitForLoadState('load'), op.click('#account-rotate-submit')]);
  await op.locator('[id="error-cred.access_key_id"]').waitFor();
  const html = await op.content();
  seen.push(html);
  expect(html).not.toContain(SECRET_2);
  expect(html).not.toContain('not a key id!');
  expect((await accountRows()).find((r) => r.id === ec2Account)?.credentials).toBe(stored);
  await op.fill('[id="f-cred.access_key_id"]', ACCESS_2);
  await op.fill('[id="f-cred.secret_access_key"]', SECRET_2);
  await Promise.all([op.waitForURL(/\/cloud\?tenant=ta$/), op.click('#account-rotate-submit')]);
  const after = (await accountRows()).find((r) => r.id === ec2Account);
  expect(decrypt(after?.credentials as string)).toEqual({ access_key_id: ACCESS_2, secret_access_key: SECRET_2 });
  const calls = await syncEc2();
  expect(calls.length).toBeGreaterThan(0);
  expect(new Set(calls)).toEqual(new Set([ACCESS_2]));
  const { rows } = await pipe.pool.query<{ actor: string; outcome: string; target: string }>(
    "SELECT actor, outcome, target FROM audit_log WHERE action = 'account.rotate' ORDER BY id",
  );
  expect(rows.map((r) => [r.actor, r.outcome, r.target])).toEqual([
    ['op', 'refused', `account ${ec2Account}`],
    ['op', 'ok', `account ${ec2Account}`],
  ]);
});

it('a viewer and an operator of another tenant get 403 on every account POST; no CSRF token: refused', async () => {
  const routes: Array<[string, Record<string, string>]> = [
    ['/cloud/accounts', { provider: 'local', tenant: 'ta', region: 'lo' }],
    [
      `/cloud/accounts/${ec2Account}/rotate`,
      { 'cred.access_key_id': 'AKIAEVILEVILEVIL', 'cred.secret_access_key': 'x'.repeat(20) },
    ],
    [`/cloud/accounts/${localAccount}/remove`, { confirm: localAccount }],
    // An id of no account: the same 403 as another tenant's, so ids are not told apart.
    ['/cloud/accounts/999999/rotate', {}],
    ['/cloud/accounts/999999/remove', { confirm: '999999' }],
  ];
  const before = await accountRows();
  for (const page of [alice, bob]) {
    await page.goto('/cloud');
    const token = await csrfOf(page);
    for (const [path, form] of routes) {
      const r = await page.context().request.post(path, { form: { ...form, _csrf: token }, maxRedirects: 0 });
      expect([path, r.status()]).toEqual([path, 403]);
      seen.push(await r.text());
    }
    // The operator of tenant tb may open the add form (for tb): only the viewer is refused it.
    const forms = [`/cloud/accounts/${ec2Account}/rotate`, `/cloud/accounts/${localAccount}/remove`];
    for (const path of page === alice ? ['/cloud/accounts/new', ...forms] : forms) {
      const r = await page.context().request.get(path);
      expect([path, r.status()]).toEqual([path, 403]);
    }
  }
  expect((await bob.context().request.get('/cloud/accounts/new')).status()).toBe(200);
  expect(await alice.locator('#account-add-link').count()).toBe(0);
  expect(await alice.locator('#accounts a.rotate').count()).toBe(0);
  const noToken = await op.context().request.post(`/cloud/accounts/${localAccount}/remove`, {
    form: { confirm: localAccount },
    maxRedirects: 0,
  });
  expect(noToken.status()).toBe(403);
  expect(await noToken.text()).toMatch(/CSRF/);
  expect(await accountRows()).toEqual(before);
});

it('removal says what happens, is refused until the id is typed, then removes the account, audited', async () => {
  await pipe.pool.query(
    `INSERT INTO actions (tenant_id, type, family, args, state, not_before)
     VALUES ('ta', 'sync.servers', 'monitor', $1, 'pending', now() + interval '1 day')`,
    [JSON.stringify({ account: localAccount })],
  );
  await op.goto('/cloud?tenant=ta');
  await Promise.all([
    op.waitForURL(`**/cloud/accounts/${localAccount}/remove`),
    op.click(`#accounts tr[data-account="${localAccount}"] a.remove`),
  ]);
  await snap(op);
  expect(await op.locator('#impact-waiting').textContent()).toBe('1 waiting action');
  expect(await op.locator('#account-remove-submit').isDisabled()).toBe(true);
  await op.fill('#f-confirm', ec2Account);
  expect(await op.locator('#account-remove-submit').isDisabled()).toBe(true);
  const forced = await op.context().request.post(`/cloud/accounts/${localAccount}/remove`, {
    form: { _csrf: await csrfOf(op), confirm: ec2Account },
    maxRedirects: 0,
  });
  expect(forced.status()).toBe(400);
  expect(await forced.text()).toMatch(/type the account(&#39;|')s id/);
  expect((await accountRows()).some((r) => r.id === localAccount)).toBe(true);
  await op.fill('#f-confirm', localAccount);
  expect(await op.locator('#account-remove-submit').isDisabled()).toBe(false);
  await op.screenshot({ path: join(SHOTS, 'remove-confirm.png'), fullPage: true });
  await Promise.all([op.waitForURL(/\/cloud\?tenant=ta$/), op.click('#account-remove-submit')]);
  expect((await accountRows()).map((r) => r.id)).toEqual([ec2Account]);
  const { rows } = await pipe.pool.query<{ actor: string; outcome: string }>(
    "SELECT actor, outcome FROM audit_log WHERE action = 'account.remove' ORDER BY id",
  );
  expect(rows.map((r) => [r.actor, r.outcome])).toEqual([
    ['op', 'refused'],
    ['op', 'ok'],
  ]);
});

it('an admin of all tenants chooses the tenant; an ipmi account without its endpoint is refused beside the field', async () => {
  await root.goto('/cloud/accounts/new?provider=ipmi');
  expect(await root.locator('#f-tenant option').allTextContents()).toEqual(expect.arrayContaining(['ta', 'tb']));
  await root.selectOption('#f-tenant', 'tb');
  await root.fill('#f-region', 'rack1');
  await root.fill('[id="f-cred.user"]', 'admin');
  await root.fill('[id="f-cred.password"]', BMC_PASSWORD);
  await Promise.all([root.waitForLoadState('load'), root.click('#account-add-submit')]);
  expect(await root.locator('#error-endpoint').textContent()).toMatch(/needs --endpoint/);
  expect(await root.inputValue('#f-tenant')).toBe('tb');
  seen.push(await root.content());
  await root.fill('#f-endpoint', 'ipmi://127.0.0.1:623');
  await root.fill('[id="f-cred.user"]', 'admin');
  await root.fill('[id="f-cred.password"]', BMC_PASSWORD);
  await Promise.all([root.waitForURL(/\/cloud\?tenant=tb$/), root.click('#account-add-submit')]);
  await snap(root);
  const bmc = (await accountRows()).find((r) => r.provider === 'ipmi');
  expect(bmc?.tenant_id).toBe('tb');
  expect(decrypt(bmc?.credentials as string)).toEqual({ user: 'admin', password: BMC_PASSWORD });
});

it('a malformed tenant or region is refused beside its field, and neither reaches the audit row', async () => {
  const pasted = `${SECRET_1}\u0000`;
  const r = await root.context().request.post('/cloud/accounts', {
    form: { _csrf: await csrfOf(root), provider: 'ipmi', tenant: pasted, region: pasted, endpoint: 'ipmi://10.0.0.9' },
    headers: { accept: 'application/json' },
    maxRedirects: 0,
  });
  expect(r.status()).toBe(400);
  const { errors } = (await r.json()) as { errors: Record<string, string> };
  expect(errors.tenant).toMatch(/not a tenant id/);
  expect(errors.region).toBe('region: use 1-63 of a-z, 0-9 and -');
  const { rows } = await pipe.pool.query<{ target: string | null; tenant: string | null; row: string }>(
    `SELECT target, tenant, row_to_json(a)::text AS row FROM audit_log a
      WHERE action = 'account.add' AND outcome = 'refused' ORDER BY id DESC LIMIT 1`,
  );
  expect(rows[0]).toMatchObject({ target: null, tenant: null });
  expect(rows[0]?.row).not.toContain(SECRET_1);
});

it('no credential is in any page, JSON answer, audit row or log', async () => {
  const token = await createApiToken(pipe.pool, 'root');
  for (const path of ['/api/cloud', `/cloud/accounts/${ec2Account}/rotate`, '/api/audit']) {
    const r = await fetch(`http://127.0.0.1:${consolePort}${path}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    expect([path, r.status]).toEqual([path, 200]);
    seen.push(await r.text());
  }
  const { rows } = await pipe.pool.query<{ row: string }>('SELECT row_to_json(a)::text AS row FROM audit_log a');
  expect(rows.length).toBeGreaterThan(5);
  const keyBody = localKey.privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const publicBlob = localKey.publicKey.split(' ')[1] as string;
  const secrets = [ACCESS_1, SECRET_1, ACCESS_2, SECRET_2, BAD_SECRET, BMC_PASSWORD, publicBlob, ...keyBody];
  const texts = [...seen, ...rows.map((r) => r.row), ...textsUnder(pipe.logDir, { absentOk: true })];
  expect(texts.length).toBeGreaterThan(10);
  for (const secret of secrets) expect([secret, texts.filter((t) => t.includes(secret)).length]).toEqual([secret, 0]);
});
