import type { AddressInfo } from 'node:net';
import { addUser, createApiToken, disableUser, listAudit, recordAudit } from '@cmq/actions';
import { createPool, migrate } from '@cmq/common';
import type { ConsoleConfig } from '@cmq/config';
import fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { Pool } from 'pg';
import pino from 'pino';
// eslint-disable-next-line no-restricted-imports -- auth's own exports; @cmq/console's index is the service
import { csrfTokenOf, registerAuth, requireRole, tenantScope } from '../../services/console/src/auth';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { testConsoleConfig } from '../helpers/console-config';

// The console's authentication against a real PostgreSQL: fastify's inject for the route-level
// rules, a real listening port and fetch for the login flow's cookies and redirects.

let database: string;
let pool: Pool;
const PASSWORD = 'correct horse battery';

const config = testConsoleConfig;

/** Every route the app registers (onRoute), so a route added later is covered too. */
interface AppWithRoutes {
  app: FastifyInstance;
  routes: Array<{ method: string; url: string }>;
}

/** An app shaped like the console: pages, an API, /metrics, an operator-only POST, assets. */
async function buildApp(cfg: ConsoleConfig['console']): Promise<AppWithRoutes> {
  const app = fastify({ logger: false });
  const routes: AppWithRoutes['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  await registerAuth(app, { pool, config: cfg, logger: pino({ level: 'silent' }) });
  app.get('/', (req) => ({ page: 'overview', user: req.principal?.name, csrf: csrfTokenOf(req) }));
  app.get('/actions/:id', (req) => ({ tenant: tenantScope(req) }));
  app.get('/api/actions', (req) => ({ tenant: tenantScope(req), via: req.principal?.via }));
  app.get('/metrics', () => 'cmq_up 1\n');
  app.get('/assets/app.css', () => 'body{}');
  app.post('/api/actions/:id/cancel', { preHandler: requireRole('operator') }, () => ({ ok: true }));
  app.post('/api/echo', (req) => ({ body: req.body }));
  await app.ready();
  return { app, routes };
}

function cookieOf(res: LightMyRequestResponse): string {
  const set = [res.headers['set-cookie'] ?? []].flat();
  const session = set.find((c) => c.startsWith('cmq_session='));
  if (session === undefined) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return session.split(';')[0] as string;
}

async function login(app: FastifyInstance, name: string, password: string, remoteAddress = '127.0.0.1') {
  return app.inject({
    method: 'POST',
    url: '/login',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ name, password, next: '/' }).toString(),
  });
}

const sessions = new Map<string, { cookie: string; csrf: string }>();

/** A logged-in user's cookie and CSRF token (one login per user and app: each costs a scrypt hash). */
async function session(app: FastifyInstance, name: string): Promise<{ cookie: string; csrf: string }> {
  const known = sessions.get(name);
  if (known !== undefined && app === main.app) return known;
  const res = await login(app, name, PASSWORD);
  expect(res.statusCode).toBe(302);
  const cookie = cookieOf(res);
  const page = await app.inject({ url: '/', headers: { cookie } });
  const made = { cookie, csrf: page.json<{ csrf: string }>().csrf };
  if (app === main.app) sessions.set(name, made);
  return made;
}

let main: AppWithRoutes;

beforeAll(async () => {
  database = await createTestDatabase('cmq_console_auth');
  pool = createPool(
    { ...testDbConfig(database), ssl: { mode: 'disable', ca: '', cert: '', key: '' } },
    pino({ level: 'silent' }),
    'cmq-console-auth-test',
  );
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('ta', 'Tenant A')");
  await Promise.all([
    addUser(pool, { name: 'ada', role: 'admin', password: PASSWORD }),
    addUser(pool, { name: 'otto', role: 'operator', password: PASSWORD }),
    addUser(pool, { name: 'vera', role: 'viewer', tenant: 'ta', password: PASSWORD }),
    addUser(pool, { name: 'tom', role: 'viewer', password: PASSWORD }),
    addUser(pool, { name: 'dora', role: 'viewer', password: PASSWORD }),
  ]);
  main = await buildApp(config());
});

afterAll(async () => {
  await main.app.close();
  await pool.end();
  await dropTestDatabase(database);
});

describe('without a session', () => {
  test('every route but /login and /assets answers 401 (API, /metrics) or redirects to the login page', async () => {
    const protectedRoutes = main.routes.filter((r) => r.url !== '/login' && !r.url.startsWith('/assets/'));
    expect(protectedRoutes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining(['GET /metrics', 'GET /api/actions', 'POST /logout', 'GET /']),
    );
    for (const r of protectedRoutes) {
      const url = r.url.replace(/:\w+/g, '1');
      const res = await main.app.inject({ method: r.method as 'GET', url });
      const machine = url === '/metrics' || url.startsWith('/api/') || !['GET', 'HEAD'].includes(r.method);
      if (machine) expect([`${r.method} ${url}`, res.statusCode]).toEqual([`${r.method} ${url}`, 401]);
      else {
        expect([`${r.method} ${url}`, res.statusCode]).toEqual([`${r.method} ${url}`, 302]);
        expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(url)}`);
      }
    }
    expect((await main.app.inject({ url: '/assets/app.css' })).statusCode).toBe(200);
  });

  test('a wrong session cookie or token is no session', async () => {
    const res = await main.app.inject({ url: '/api/actions', headers: { cookie: 'cmq_session=forged' } });
    expect(res.statusCode).toBe(401);
    const bad = await main.app.inject({ url: '/metrics', headers: { authorization: 'Bearer cmq_nope' } });
    expect(bad.statusCode).toBe(401);
    const rows = await listAudit(pool, { action: 'token.use' });
    expect(rows.some((r) => r.outcome === 'failed' && r.target === 'GET /metrics')).toBe(true);
  });
});

describe('login over a real port', () => {
  test('the form logs in, sets a strict HttpOnly cookie, shows errors beside the field and logs out', async () => {
    await main.app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(main.app.server.address() as AddressInfo).port}`;
    const first = await fetch(`${base}/actions/7`, { redirect: 'manual' });
    expect(first.status).toBe(302);
    const form = await fetch(`${base}${first.headers.get('location') ?? ''}`);
    const html = await form.text();
    expect(html).toContain('<form method="post" action="/login"');
    expect(html).toContain('value="/actions/7"');
    expect(html).not.toMatch(/<script/i);

    const post = (password: string): Promise<Response> =>
      fetch(`${base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
        body: new URLSearchParams({ name: 'tom', password, next: '/actions/7' }),
      });
    const wrong = await post('not the password');
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toMatch(/id="password"[^>]*aria-describedby="password-error"[\s\S]*id="password-error"/);

    const ok = await post(PASSWORD);
    expect(ok.status).toBe(302);
    expect(ok.headers.get('location')).toBe('/actions/7');
    const setCookie = ok.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);
    const cookie = setCookie.split(';')[0] as string;
    const stored = await pool.query<{ id_hash: string }>('SELECT id_hash FROM console_sessions');
    expect(stored.rows.map((r) => r.id_hash)).not.toContain(cookie.split('=')[1]);

    const page = await fetch(`${base}/`, { headers: { cookie } });
    const body = (await page.json()) as { user: string; csrf: string };
    expect(body.user).toBe('tom');
    const out = await fetch(`${base}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, origin: base, 'x-csrf-token': body.csrf },
    });
    expect(out.status).toBe(302);
    expect((await fetch(`${base}/api/actions`, { headers: { cookie } })).status).toBe(401);
    const audit = (await listAudit(pool, { actor: 'tom' })).map((r) => `${r.action} ${r.outcome}`);
    expect(audit).toEqual(['logout ok', 'login ok', 'login failed']);
  });
});

describe('CSRF', () => {
  test('a state-changing request needs the session token and a same-origin Origin', async () => {
    const { cookie, csrf } = await session(main.app, 'otto');
    const post = (headers: Record<string, string>, payload?: string) =>
      main.app.inject({ method: 'POST', url: '/api/actions/1/cancel', headers: { cookie, ...headers }, payload });
    expect((await post({})).statusCode).toBe(403);
    expect((await post({ 'x-csrf-token': 'wrong' })).statusCode).toBe(403);
    expect(
      (await post({ 'x-csrf-token': csrf, origin: 'https://evil.example', host: 'console:8080' })).statusCode,
    ).toBe(403);
    expect((await post({ 'x-csrf-token': csrf, origin: 'http://console:8080', host: 'console:8080' })).statusCode).toBe(
      200,
    );
    const form = await post(
      { 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({ _csrf: csrf }).toString(),
    );
    expect(form.statusCode).toBe(200);
  });

  test('the login form carries only a local path to return to', async () => {
    const page = await main.app.inject({ url: '/login?next=%2F%2Fevil.example' });
    expect(page.body).toContain('name="next" value="/"');
  });

  test('a login posted from another site is refused', async () => {
    const res = await main.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', host: 'c:1' },
      payload: new URLSearchParams({ name: 'ada', password: PASSWORD }).toString(),
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});

describe('roles and tenants', () => {
  test('a viewer gets 403 on an operator route; an operator and an admin pass', async () => {
    for (const [name, code] of [
      ['tom', 403],
      ['otto', 200],
      ['ada', 200],
    ] as const) {
      const { cookie, csrf } = await session(main.app, name);
      const res = await main.app.inject({
        method: 'POST',
        url: '/api/actions/1/cancel',
        headers: { cookie, 'x-csrf-token': csrf },
      });
      expect([name, res.statusCode]).toEqual([name, code]);
    }
  });

  test("a tenant-bound user's scope is its tenant; others see all", async () => {
    const vera = await session(main.app, 'vera');
    const tom = await session(main.app, 'tom');
    expect((await main.app.inject({ url: '/api/actions', headers: { cookie: vera.cookie } })).json()).toEqual({
      tenant: 'ta',
      via: 'session',
    });
    expect((await main.app.inject({ url: '/api/actions', headers: { cookie: tom.cookie } })).json()).toEqual({
      tenant: null,
      via: 'session',
    });
  });
});

describe('API tokens', () => {
  test('a token works as Bearer (no CSRF token needed), each use is audited, a disabled user loses it', async () => {
    const token = await createApiToken(pool, 'dora');
    const stored = await pool.query<{ token_hash: string }>('SELECT token_hash FROM console_api_tokens');
    expect(stored.rows.map((r) => r.token_hash)).not.toContain(token);
    const res = await main.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('cmq_up 1\n');
    const echo = await main.app.inject({
      method: 'POST',
      url: '/api/echo',
      headers: { authorization: `Bearer ${token}` },
      payload: { a: 1 },
    });
    expect(echo.statusCode).toBe(200);
    const uses = await listAudit(pool, { actor: 'dora', action: 'token.use' });
    expect(uses.map((u) => `${u.target} ${u.outcome}`)).toEqual(['POST /api/echo ok', 'GET /metrics ok']);
    await disableUser(pool, 'dora');
    expect((await main.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(
      401,
    );
  });
});

describe('throttling', () => {
  afterEach(() => pool.query('DELETE FROM console_login_failures'));

  test('ten wrong passwords throttle the account, the right one included, until the window passes', async () => {
    await addUser(pool, { name: 'tess', role: 'viewer', password: PASSWORD });
    const codes: number[] = [];
    // Each from its own address: the account is throttled, not (only) the address.
    for (let i = 0; i < 10; i++)
      codes.push((await login(main.app, 'tess', 'wrong password', `10.0.0.${i + 1}`)).statusCode);
    expect(codes).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    const right = await login(main.app, 'tess', PASSWORD, '10.0.1.1');
    expect(right.statusCode).toBe(429);
    expect(right.body).toContain('Too many failed logins');
    expect(right.headers['set-cookie']).toBeUndefined();
    const audit = (await listAudit(pool, { actor: 'tess' })).map((r) => r.outcome);
    expect(audit.filter((o) => o === 'throttled')).toHaveLength(6);
    expect(audit.filter((o) => o === 'failed')).toHaveLength(5);
    // The window passing is the failures growing older than it.
    await pool.query("UPDATE console_login_failures SET at = at - interval '16 minutes'");
    expect((await login(main.app, 'tess', PASSWORD, '10.0.1.1')).statusCode).toBe(302);
  });

  test('one address guessing at many names is throttled for every name', async () => {
    for (let i = 0; i < 5; i++) expect((await login(main.app, `guess${i}`, 'x', '192.0.2.9')).statusCode).toBe(401);
    expect((await login(main.app, 'ada', PASSWORD, '192.0.2.9')).statusCode).toBe(429);
    expect((await login(main.app, 'ada', PASSWORD, '192.0.2.10')).statusCode).toBe(302);
  });

  test('bad Bearer tokens count as failed logins of their address; once throttled, none is audited', async () => {
    const addr = '198.51.100.7';
    for (let i = 0; i < 12; i++) {
      const r = await main.app.inject({
        url: '/api/actions',
        remoteAddress: addr,
        headers: { authorization: `Bearer cmq_bad${i}` },
      });
      expect(r.statusCode).toBe(401);
    }
    const audited = await listAudit(pool, { action: 'token.use', limit: 1000 });
    expect(audited.filter((r) => r.actor_address === addr).map((r) => r.outcome)).toEqual(Array(5).fill('failed'));
    // One store: the address's logins are throttled too; a good token still works from it.
    expect((await login(main.app, 'ada', PASSWORD, addr)).statusCode).toBe(429);
    const token = await createApiToken(pool, 'tom');
    const good = await main.app.inject({
      url: '/api/actions',
      remoteAddress: addr,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(good.statusCode).toBe(200);
  });

  test('a disabled user cannot log in', async () => {
    await addUser(pool, { name: 'gone', role: 'admin', password: PASSWORD });
    await disableUser(pool, 'gone');
    expect((await login(main.app, 'gone', PASSWORD)).statusCode).toBe(401);
    const [row] = await listAudit(pool, { actor: 'gone' });
    expect(row).toMatchObject({ action: 'login', outcome: 'failed', detail: { reason: 'disabled' } });
  });
});

describe('proxy mode', () => {
  let proxied: AppWithRoutes;
  beforeAll(async () => {
    proxied = await buildApp(
      config({ auth: 'proxy', proxy: { addresses: ['10.1.2.3', '10.9.0.0/16'], header: 'X-Remote-User' } }),
    );
  });
  afterAll(() => proxied.app.close());

  test('the header is trusted only from the configured addresses', async () => {
    const get = (remoteAddress: string, user: string) =>
      proxied.app.inject({ url: '/api/actions', remoteAddress, headers: { 'x-remote-user': user } });
    expect((await get('10.1.2.3', 'vera')).json()).toEqual({ tenant: 'ta', via: 'proxy' });
    expect((await get('10.9.200.1', 'ada')).json()).toEqual({ tenant: null, via: 'proxy' });
    expect((await get('::ffff:10.1.2.3', 'ada')).statusCode).toBe(200);
    expect((await get('127.0.0.1', 'ada')).statusCode).toBe(401);
    expect((await get('10.1.2.4', 'ada')).statusCode).toBe(401);
    expect((await get('10.1.2.3', 'nobody')).statusCode).toBe(401);
    const [refused] = await listAudit(pool, { actor: 'nobody' });
    expect(refused).toMatchObject({ action: 'proxy.login', outcome: 'refused' });
  });

  test("a proxied user's POST needs its CSRF token too", async () => {
    const headers = { 'x-remote-user': 'otto' };
    const page = await proxied.app.inject({ url: '/', remoteAddress: '10.1.2.3', headers });
    const csrf = page.json<{ csrf: string }>().csrf;
    expect(csrf).not.toBe('');
    const post = (extra: Record<string, string>) =>
      proxied.app.inject({
        method: 'POST',
        url: '/api/actions/1/cancel',
        remoteAddress: '10.1.2.3',
        headers: { ...headers, ...extra },
      });
    expect((await post({})).statusCode).toBe(403);
    expect((await post({ 'x-csrf-token': csrf })).statusCode).toBe(200);
  });
});

describe('audit store', () => {
  test('listAudit: newest first by number (99 before 100 would be text order), paged by id', async () => {
    for (let i = 0; i < 120; i++)
      await recordAudit(pool, { actor: 'bulk', action: 'test', outcome: 'ok', target: `${i}` });
    const all = await listAudit(pool, { actor: 'bulk', limit: 1000 });
    expect(all.map((r) => r.target)).toEqual(Array.from({ length: 120 }, (_, i) => `${119 - i}`));
    const first = await listAudit(pool, { actor: 'bulk', limit: 50 });
    const next = await listAudit(pool, { actor: 'bulk', limit: 50, before: first.at(-1)?.id });
    expect([...first, ...next].map((r) => r.target)).toEqual(all.slice(0, 100).map((r) => r.target));
  });

  test('a refusal quoting a NUL it was sent is still recorded (NUL written \\u0000)', async () => {
    // A guest form's log path "/var/log/a<NUL>" is refused with an error that quotes it.
    await recordAudit(pool, {
      actor: 'nul\u0000er',
      action: 'guest.add',
      outcome: 'refused',
      target: 'web\u0000',
      tenant: 't\u0000',
      detail: { errors: { logPaths: 'log path "/var/log/a\u0000" contains U+0000' }, ['k\u0000']: 'half \ud800' },
    });
    const [row] = await listAudit(pool, { actor: 'nul\\u0000er' });
    expect(row).toMatchObject({ target: 'web\\u0000', tenant: 't\\u0000', outcome: 'refused' });
    expect(row?.detail).toEqual({
      errors: { logPaths: 'log path "/var/log/a\\u0000" contains U+0000' },
      'k\\u0000': 'half \ufffd',
    });
  });
});

describe('security headers', () => {
  test('CSP without inline script, frames denied; Secure cookie under TLS', async () => {
    const res = await main.app.inject({ url: '/login' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('same-origin');
    expect(res.headers['strict-transport-security']).toBeUndefined();

    const tls = await buildApp(config({ tls: { cert: '/etc/ssl/console.pem', key: '/etc/ssl/console.key' } }));
    try {
      const ok = await login(tls.app, 'ada', PASSWORD, '198.51.100.1');
      expect(String(ok.headers['set-cookie'])).toMatch(/; Secure/);
      expect(ok.headers['strict-transport-security']).toMatch(/max-age=/);
    } finally {
      await tls.app.close();
    }
  });
});
