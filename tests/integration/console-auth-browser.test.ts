import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { addUser } from '@cmq/actions';
import { createPool, migrate } from '@cmq/common';
import type { ConsoleConfig } from '@cmq/config';
import fastify, { type FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import pino from 'pino';
import type { Browser } from 'playwright-core';
// eslint-disable-next-line no-restricted-imports -- auth's own exports; @cmq/console's index is the service
import { csrfTokenOf, registerAuth } from '../../services/console/src/auth';
import { launchBrowser, newPage, screenshotDir } from '../helpers/browser';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { testConsoleConfig } from '../helpers/console-config';

// The login page in a real browser (Debian's chromium through playwright-core) against
// registerAuth on a listening fastify with a real PostgreSQL: the form, its errors beside the
// field, the HttpOnly cookie, logout with the CSRF field, throttling, and no CSP violation.

const SHOTS = screenshotDir(__filename);
const PASSWORD = 'correct horse battery';
let database: string;
let pool: Pool;
let app: FastifyInstance;
let base: string;
let browser: Browser;

const config: ConsoleConfig['console'] = testConsoleConfig();

/** A page like the console's: the user's name and a logout form carrying the CSRF token. */
function overview(name: string, csrf: string): string {
  return `<!doctype html><html><head><meta name="csrf-token" content="${csrf}"><title>overview</title></head>
<body><p id="who">${name}</p><form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrf}">
<button id="logout" type="submit">Log out</button></form></body></html>`;
}

beforeAll(async () => {
  database = await createTestDatabase('cmq_console_auth_browser');
  pool = createPool(
    { ...testDbConfig(database), ssl: { mode: 'disable', ca: '', cert: '', key: '' } },
    pino({ level: 'silent' }),
    'cmq-console-auth-browser-test',
  );
  await migrate(pool);
  await Promise.all([
    addUser(pool, { name: 'ada', role: 'admin', password: PASSWORD }),
    addUser(pool, { name: 'ted', role: 'viewer', password: PASSWORD }),
  ]);
  app = fastify();
  await registerAuth(app, { pool, config, logger: pino({ level: 'silent' }) });
  app.get('/', (req, reply) => reply.type('text/html').send(overview(req.principal?.name ?? '?', csrfTokenOf(req))));
  app.get('/favicon.ico', (_req, reply) => reply.code(204).send());
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await pool?.end();
  await dropTestDatabase(database);
});

test('log in through the form (error beside the field first), HttpOnly cookie, log out', async () => {
  const { context, page, errors } = await newPage(browser, base);
  try {
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name="name"]', 'ada');
    await page.fill('input[name="password"]', 'wrong password');
    await page.click('button[type="submit"]');
    const fieldError = page.locator('#password-error');
    await fieldError.waitFor();
    expect(await fieldError.textContent()).toContain('Wrong user name or password');
    expect(await page.getAttribute('#password', 'aria-describedby')).toBe('password-error');
    expect(await page.inputValue('input[name="name"]')).toBe('ada');
    await page.screenshot({ path: join(SHOTS, 'login-error.png') });

    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('button[type="submit"]')]);
    expect(await page.textContent('#who')).toBe('ada');
    // The page's own script cannot read the session (HttpOnly).
    expect(await page.evaluate('document.cookie')).not.toContain('cmq_session');
    const cookie = (await context.cookies()).find((c) => c.name === 'cmq_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });

    await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.click('#logout')]);
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/login');
    // The wrong password's 401 is logged by chromium as a failed resource; nothing else may be.
    expect(errors).toEqual(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
  } finally {
    await context.close();
  }
});

test('ten wrong passwords throttle the account in the browser, the right one too', async () => {
  const { context, page, errors } = await newPage(browser, base);
  try {
    await page.goto('/login');
    for (let i = 0; i < 10; i++) {
      await page.fill('input[name="name"]', 'ted');
      await page.fill('input[name="password"]', `guess ${i}`);
      await Promise.all([page.waitForLoadState(), page.click('button[type="submit"]')]);
    }
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForLoadState(), page.click('button[type="submit"]')]);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(await page.textContent('#form-error')).toContain('Too many failed logins');
    await page.screenshot({ path: join(SHOTS, 'login-throttled.png') });
    expect(errors.filter((e) => !/status of (401|429) /.test(e))).toEqual([]);
  } finally {
    await context.close();
  }
});
