import { addUser, createApiToken } from '@cmq/actions';
import { Counter, Registry, createPool, migrate } from '@cmq/common';
import type { ConsoleConfig } from '@cmq/config';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import pino from 'pino';
// eslint-disable-next-line no-restricted-imports -- the console's app factory; @cmq/console's index is the service
import { buildApp } from '../../services/console/src/app';
// eslint-disable-next-line no-restricted-imports -- as above
import type { ConsoleContext } from '../../services/console/src/context';
import { tempDir } from '../helpers/config-dir';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { testConsoleConfig } from '../helpers/console-config';

// Every route of the real console app (services/console/src/app.ts), read from fastify's own
// route table, so a route added later is covered without touching this test: without a session
// it answers 401 (the API, /metrics, anything that is not a GET) or redirects to the login page.
// No handler may run for such a request, so the context's Redis, live streams and SQL throw
// when touched; the pool that authentication itself uses is a real PostgreSQL's.

let database: string;
let pool: Pool;
let app: FastifyInstance;
/** The registry /metrics serves (in the service, the one its metrics file is written from). */
const registry = new Registry();
new Counter({ name: 'cmq_console_routes_test_total', help: 'A series /metrics must show.', registers: [registry] }).inc(
  3,
);

const consoleConfig: ConsoleConfig['console'] = testConsoleConfig();

function untouchable(what: string): object {
  return new Proxy(
    {},
    {
      get: (_t, key) => {
        throw new Error(`${what}.${String(key)} was used by a request without a session`);
      },
    },
  );
}

/** `printRoutes({ commonPrefix: false })`'s tree as `METHOD /path` lines. */
function routesOf(tree: string): Array<{ method: string; url: string }> {
  const stack: string[] = [];
  const routes: Array<{ method: string; url: string }> = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (m === null) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    const url = stack.join('');
    for (const method of (m[3] ?? '').split(', ').filter((x) => x !== '')) routes.push({ method, url });
  }
  return routes;
}

beforeAll(async () => {
  database = await createTestDatabase('cmq_console_routes');
  pool = createPool(
    { ...testDbConfig(database), ssl: { mode: 'disable', ca: '', cert: '', key: '' } },
    pino({ level: 'silent' }),
    'cmq-console-routes-test',
  );
  await migrate(pool);
  const ctx = {
    database: { pool, sql: untouchable('sql') },
    redis: untouchable('redis'),
    streams: untouchable('streams'),
    config: {
      dir: tempDir(),
      own: { console: consoleConfig, log: untouchable('log') },
      provisioning: untouchable('p'),
    },
    configDir: tempDir(),
    logger: pino({ level: 'silent' }),
    metrics: registry,
  };
  const thresholds = {
    canaryWarningMs: 1000,
    canaryCriticalMs: 5000,
    oldestWarningS: 60,
    oldestCriticalS: 300,
    summaryMaxAgeMs: 10_000,
    pingerIntervalMs: 1000,
  };
  // The context is partial on purpose (see the top of the file): only what registration reads.
  app = await buildApp(ctx as unknown as ConsoleContext, thresholds);
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await pool?.end();
  await dropTestDatabase(database);
});

test('without a session every route of the console answers 401 or redirects to /login', async () => {
  const routes = routesOf(app.printRoutes({ commonPrefix: false })).filter(
    (r) => r.url !== '/login' && !r.url.startsWith('/assets/') && r.method !== 'OPTIONS',
  );
  // The table was read: the views, their API twins, /metrics when the app has it, and logout.
  expect(routes.length).toBeGreaterThan(10);
  expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(
    expect.arrayContaining(['GET /', 'GET /api/actions', 'GET /metrics', 'POST /logout']),
  );
  const answers: string[] = [];
  for (const r of routes) {
    const url = r.url.replace(/:\w+/g, '1').replace(/\*$/, 'x');
    const res = await app.inject({ method: r.method as 'GET', url });
    const machine = url === '/metrics' || url.startsWith('/api/') || !['GET', 'HEAD'].includes(r.method);
    const expected = machine ? '401' : `302 /login?next=${encodeURIComponent(url)}`;
    const got = res.statusCode === 302 ? `302 ${String(res.headers.location)}` : String(res.statusCode);
    answers.push(`${r.method} ${url}: ${got === expected ? 'ok' : `${got}, expected ${expected}`}`);
  }
  expect(answers.filter((a) => !a.endsWith(': ok'))).toEqual([]);
});

test('/metrics and unknown paths ask for credentials before saying anything', async () => {
  for (const url of ['/metrics', '/api/nothing-here'])
    expect([url, (await app.inject({ url })).statusCode]).toEqual([url, 401]);
  const page = await app.inject({ url: '/no-such-page' });
  expect(page.statusCode).toBe(302);
});

test("/metrics serves the console's registry to an API token, and nothing without one", async () => {
  expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
  await addUser(pool, { name: 'prometheus', role: 'viewer', tenant: null, password: 'scrape password 1' });
  const token = await createApiToken(pool, 'prometheus');
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(res.body).toContain('cmq_console_routes_test_total 3');
  await pool.query("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')");
  await addUser(pool, { name: 'tenant-scraper', role: 'admin', tenant: 'acme', password: 'scrape password 2' });
  const bound = await createApiToken(pool, 'tenant-scraper');
  const refused = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${bound}` } });
  expect(refused.statusCode).toBe(403);
});
