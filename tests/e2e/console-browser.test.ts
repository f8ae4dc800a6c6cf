import { freePort } from '../helpers/private-servers';
import { join } from 'node:path';
import { addUser } from '@cmq/actions';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, logIn, newPage, screenshotDir } from '../helpers/browser';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq, spawnBin } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/**
 * The console in a real browser (Debian's chromium, headless, driven by playwright-core) against
 * a real pipeline: publisher, subscriber and pinger on PostgreSQL, Redis and RabbitMQ. One
 * browser for the file; screenshots of each view land in .tmp/screenshots/console-browser/.
 */
const SHOTS = screenshotDir(__filename);
const PASSWORD = 'correct horse battery';
let pipe: Pipeline;
let consoleProc: Spawned;
let base: string;
let browser: Browser;
let admin: Page;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': 13 },
      'pinger.properties': { 'pinger.interval': '1s', 'check.summary_max_age': '5s', 'canary.timeout': '5s' },
    },
  });
  const own = { 'log.dir': pipe.logDir, 'metrics.dir': join(pipe.dir, 'metrics'), 'heartbeat.interval': '1s' };
  const { writeConfig } = await import('../helpers/config-dir');
  writeConfig(
    { 'console.properties': { ...own, 'console.listen': `127.0.0.1:${port}`, 'console.live.poll_interval': '200ms' } },
    pipe.dir,
  );
  await pipe.addTenants('ta', 'tb');
  await addUser(pipe.pool, { name: 'root', role: 'admin', tenant: null, password: PASSWORD });
  await addUser(pipe.pool, { name: 'alice', role: 'viewer', tenant: 'ta', password: PASSWORD });
  pipe.start('publisher');
  pipe.start('subscriber');
  pipe.start('pinger');
  consoleProc = spawnBin('console', ['--config-dir', pipe.dir]);
  pipe.processes.push(consoleProc);
  const [b] = await Promise.all([
    launchBrowser(),
    pipe.running('subscriber', 'default'),
    pipe.running('publisher', 'main'),
    pipe.running('console', 'main'),
  ]);
  browser = b;
  admin = (await newPage(browser, base)).page;
  await logIn(admin, 'root', PASSWORD);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await pipe?.destroy();
});

it('the overview shows the live subscriber, the verdict and the mode; charts draw', async () => {
  await waitFor(
    async () => {
      await admin.goto('/');
      return (await admin.locator('#processes tr[data-service="subscriber"]').count()) === 1;
    },
    20_000,
    'the subscriber on the overview',
  );
  await waitFor(
    async () => {
      await admin.goto('/');
      return (await admin.locator('#families tr[data-family="monitor"] .subscribers').textContent()) === '1';
    },
    20_000,
    'one subscriber for the monitor family',
  );
  expect(await admin.locator('#verdict').textContent()).toMatch(/CMQ (OK|WARNING|CRITICAL|UNKNOWN)/);
  expect(await admin.locator('#mode').textContent()).toBe('dynamic');
  await admin.locator('#charts .uplot').first().waitFor({ timeout: 10_000 });
  await admin.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
});

it('an action submitted with cmq call reaches succeeded on the list without a reload; its page shows its events', async () => {
  await admin.goto('/actions?tenant=ta');
  await admin.locator('#actions').waitFor();
  const marker = await admin.evaluate(() => {
    (globalThis as unknown as { marker: number }).marker = 42;
    return 42;
  });
  const call = await runCmq(['call', 'noop', '--tenant', 'ta', '--args', '{"sleep_ms":300}', '--config-dir', pipe.dir]);
  expect(call.code).toBe(0);
  const id = call.stdout.trim();
  const state = admin.locator(`#actions [data-state-of="${id}"]`);
  await state.waitFor({ timeout: 20_000 });
  await waitFor(async () => (await state.textContent()) === 'succeeded', 20_000, `action ${id} succeeded on the page`);
  // Still the same document: no reload happened.
  expect(await admin.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(marker);
  await admin.screenshot({ path: join(SHOTS, 'actions.png'), fullPage: true });
  await admin.click(`#actions a[href="/actions/${id}"]`);
  await admin.locator('#events tbody tr').nth(3).waitFor({ timeout: 10_000 });
  const states = await admin.locator('#events tbody tr td:nth-child(3)').allTextContents();
  expect(states).toEqual(['pending', 'queued', 'running', 'succeeded']);
  expect(await admin.locator('#action-state').textContent()).toBe('succeeded');
  await admin.screenshot({ path: join(SHOTS, 'action.png'), fullPage: true });
});

it('arguments and results holding markup render as text', async () => {
  const evil = '<script>window.pwned=1</script>"><img src=x onerror="window.pwned=2">';
  const { rows } = await pipe.pool.query<{ id: string }>(
    `INSERT INTO actions (tenant_id, type, family, args, state, result, error, finished_at)
     VALUES ('ta', 'noop', 'monitor', $1, 'failed', $2, $3, now()) RETURNING id::text`,
    [JSON.stringify({ note: evil }), JSON.stringify({ stdout: evil }), evil],
  );
  const id = rows[0]?.id as string;
  await admin.goto(`/actions/${id}`);
  expect(await admin.locator('#args').textContent()).toContain('<script>window.pwned=1</script>');
  expect(await admin.locator('#error').textContent()).toBe(evil);
  expect(await admin.locator('pre.output').textContent()).toBe(evil);
  await admin.goto('/actions?tenant=ta');
  expect(await admin.locator(`#actions tr[data-action="${id}"] .error`).textContent()).toBe(evil);
  expect(await admin.locator('main img').count()).toBe(0);
  expect(await admin.locator('main script').count()).toBe(0);
  expect(await admin.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned)).toBeUndefined();
  await admin.screenshot({ path: join(SHOTS, 'markup-as-text.png'), fullPage: true });
});

it('every other view renders (dead, tenants, cloud & hosts, live events)', async () => {
  for (const [path, name, sel] of [
    ['/dead', 'dead', '#dead-groups'],
    ['/tenants', 'tenants', '#tenants'],
    ['/cloud', 'cloud', '#guests'],
  ] as const) {
    await admin.goto(path);
    await admin.locator(sel).waitFor();
    await admin.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }
  await admin.goto('/events?tenant=tb');
  await admin.locator('#live-status:text("live")').waitFor({ timeout: 10_000 });
  const [id] = await pipe.submit([{ type: 'noop', tenant: 'tb', args: {} }]);
  await admin.locator(`#live-events a[href="/actions/${id}"]`).first().waitFor({ timeout: 20_000 });
  await admin.screenshot({ path: join(SHOTS, 'events.png'), fullPage: true });
});

it('a viewer bound to tenant ta never sees tenant tb, in pages or in the API', async () => {
  const [tbId = ''] = await pipe.submit([{ type: 'noop', tenant: 'tb', args: {} }]);
  await pipe.allFinal(20_000, [tbId]);
  const { page, context } = await newPage(browser, base);
  await logIn(page, 'alice', PASSWORD);
  const api = async (path: string): Promise<{ status: number; text: string }> => {
    const r = await context.request.get(path);
    return { status: r.status(), text: await r.text() };
  };
  const routes = [
    '/',
    '/api/overview',
    '/api/charts',
    '/actions',
    '/api/actions',
    '/actions?tenant=tb',
    '/api/actions?tenant=tb',
    `/actions/${tbId}`,
    `/api/actions/${tbId}`,
    '/dead',
    '/api/dead?tenant=tb',
    '/tenants',
    '/api/tenants',
    '/cloud?tenant=tb',
    '/api/cloud?tenant=tb',
    '/events?tenant=tb',
    '/api/events?tenant=tb',
  ];
  for (const path of routes) {
    const r = await api(path);
    expect({ path, leaks: /"tb"|\btb\b/.test(r.text.replace(/[?&]tenant=tb/g, '')) }).toEqual({ path, leaks: false });
    expect([200, 403, 404]).toContain(r.status);
  }
  expect((await api(`/api/actions/${tbId}`)).status).toBe(404);
  const list = JSON.parse((await api('/api/actions?tenant=tb')).text) as { rows: Array<{ tenant: string }> };
  expect(list.rows.length).toBeGreaterThan(0);
  expect(new Set(list.rows.map((r) => r.tenant))).toEqual(new Set(['ta']));
  const tenants = JSON.parse((await api('/api/tenants')).text) as { tenants: Array<{ id: string }> };
  expect(tenants.tenants.map((t) => t.id)).toEqual(['ta']);
  // The live stream: tb's events never arrive, ta's do.
  await page.goto('/events?tenant=tb');
  await page.locator('#live-status:text("live")').waitFor({ timeout: 10_000 });
  const [tb2 = ''] = await pipe.submit([{ type: 'noop', tenant: 'tb', args: {} }]);
  await pipe.allFinal(20_000, [tb2]);
  // Every event of tb2 has a smaller id than any of ta2's, submitted after tb2 finished: once
  // ta2 is on the page, tb2's events were read by the stream too, and left out.
  const [ta2 = ''] = await pipe.submit([{ type: 'noop', tenant: 'ta', args: {} }]);
  await page.locator(`#live-events a[href="/actions/${ta2}"]`).first().waitFor({ timeout: 20_000 });
  expect(await page.locator(`#live-events a[href="/actions/${tb2}"]`).count()).toBe(0);
  expect(await page.locator('#live-events td:nth-child(2)').allTextContents()).not.toContain('tb');
  await page.screenshot({ path: join(SHOTS, 'viewer-ta-events.png'), fullPage: true });
  await context.close();
});
