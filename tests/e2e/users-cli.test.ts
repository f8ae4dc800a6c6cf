import { findUserForLogin, listAudit, verifyPassword } from '@cmq/actions';
import { createPool } from '@cmq/common';
import type { ConsoleConfig } from '@cmq/config';
import fastify, { type FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import pino from 'pino';
// eslint-disable-next-line no-restricted-imports -- auth's own exports; @cmq/console's index is the service
import { registerAuth } from '../../services/console/src/auth';
import { writeConfig } from '../helpers/config-dir';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { type CmqRun, ROOT, runCmqWithInput } from '../helpers/process';
import { waitFor } from '../helpers/wait';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { testConsoleConfig } from '../helpers/console-config';

// `cmq users` (the built bin) against a real PostgreSQL; what it writes is then used by the
// console's own authentication (registerAuth on a fastify instance, through inject).

let database: string;
let dir: string;
let pool: Pool;
let app: FastifyInstance;

const cmq = (args: string[], input = ''): Promise<CmqRun> => runCmqWithInput([...args, '--config-dir', dir], input);

const consoleConfig: ConsoleConfig['console'] = testConsoleConfig({ login: { max_failures: 5, window: 60_000 } });

const login = (name: string, password: string) =>
  app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ name, password }).toString(),
  });

beforeAll(async () => {
  database = await createTestDatabase('cmq_users_cli');
  dir = writeConfig({ 'worker.properties': { 'db.database': database } });
  expect((await cmq(['migrate'])).code).toBe(0);
  expect((await cmq(['tenants', 'add', 'ta', '--name', 'Tenant A'])).code).toBe(0);
  pool = createPool(
    { ...testDbConfig(database), ssl: { mode: 'disable', ca: '', cert: '', key: '' } },
    pino({ level: 'silent' }),
    'cmq-users-cli-test',
  );
  app = fastify();
  await registerAuth(app, { pool, config: consoleConfig, logger: pino({ level: 'silent' }) });
  app.get('/api/whoami', (req) => ({ name: req.principal?.name, tenant: req.principal?.tenant }));
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await pool.end();
  await dropTestDatabase(database);
});

test('add reads the password from stdin, stores a scrypt hash, and the user can log in', async () => {
  const added = await cmq(['users', 'add', 'alice', '--role', 'operator', '--tenant', 'ta'], 'first-Secret-1\n');
  expect(added).toMatchObject({ code: 0, stdout: 'added operator alice of tenant ta\n', stderr: '' });
  const stored = await findUserForLogin(pool, 'alice');
  expect(stored).toMatchObject({ role: 'operator', tenant: 'ta', disabled: false });
  expect(stored?.password_hash).toMatch(/^scrypt\$32768\$8\$3\$/);
  expect(stored?.password_hash).not.toContain('first-Secret-1');
  expect(await verifyPassword('first-Secret-1', stored?.password_hash ?? '')).toBe(true);
  expect((await login('alice', 'first-Secret-1')).statusCode).toBe(302);
  const [audit] = await listAudit(pool, { action: 'user.add' });
  expect(audit).toMatchObject({ target: 'alice', outcome: 'ok', detail: { role: 'operator', tenant: 'ta' } });
  expect(JSON.stringify(audit)).not.toContain('first-Secret-1');
});

test('the password is never an argument', async () => {
  const help = await cmq(['users', 'add', '--help']);
  expect(help.stdout).not.toMatch(/password/i);
  const res = await cmq(['users', 'add', 'bob', '--role', 'viewer', '--password', 'in-argv-secret'], 'x');
  expect(res.code).toBe(64);
  expect(await findUserForLogin(pool, 'bob')).toBeUndefined();
});

test('bad input is refused with the reason: exit 2 malformed, exit 1 taken or unknown', async () => {
  const cases: Array<[string[], string, number, RegExp]> = [
    [['users', 'add', 'bad name', '--role', 'viewer'], 'long-enough-pw\n', 2, /user name "bad name"/],
    [['users', 'add', 'carol', '--role', 'viewer'], 'short\n', 2, /too short: use at least 8/],
    [['users', 'add', 'carol', '--role', 'viewer', '--tenant', 'nope'], 'long-enough-pw\n', 1, /unknown tenant "nope"/],
    [['users', 'add', 'alice', '--role', 'viewer'], 'long-enough-pw\n', 1, /user "alice" already exists/],
  ];
  for (const [args, input, code, message] of cases) {
    const res = await cmq(args, input);
    expect([args.join(' '), res.code]).toEqual([args.join(' '), code]);
    expect(res.stderr).toMatch(message);
  }
  expect(await findUserForLogin(pool, 'carol')).toBeUndefined();
});

test('list, passwd, token as Bearer (audited), and disable blocking login and tokens', async () => {
  expect((await cmq(['users', 'add', 'dave', '--role', 'viewer'], 'dave-pass-one\n')).code).toBe(0);
  expect(await cmq(['users', 'passwd', 'dave'], 'dave-pass-two\n')).toMatchObject({ code: 0 });
  expect((await login('dave', 'dave-pass-one')).statusCode).toBe(401);
  expect((await login('dave', 'dave-pass-two')).statusCode).toBe(302);

  const made = await cmq(['users', 'token', 'dave']);
  expect(made.code).toBe(0);
  const token = made.stdout.trim();
  expect(token).toMatch(/^cmq_[A-Za-z0-9_-]{43}$/);
  const hashes = await pool.query<{ token_hash: string }>('SELECT token_hash FROM console_api_tokens');
  expect(hashes.rows.map((r) => r.token_hash).join()).not.toContain(token);
  const who = await app.inject({ url: '/api/whoami', headers: { authorization: `Bearer ${token}` } });
  expect(who.json()).toEqual({ name: 'dave', tenant: null });
  const [use] = await listAudit(pool, { action: 'token.use' });
  expect(use).toMatchObject({ actor: 'dave', target: 'GET /api/whoami', outcome: 'ok' });

  expect(await cmq(['users', 'disable', 'dave'])).toMatchObject({ code: 0, stdout: 'disabled dave\n' });
  expect((await cmq(['users', 'list', '--json'])).stdout).toContain(
    '"name":"dave","role":"viewer","tenant":null,"disabled":true',
  );
  expect((await login('dave', 'dave-pass-two')).statusCode).toBe(401);
  expect((await app.inject({ url: '/api/whoami', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(
    401,
  );
  expect((await cmq(['users', 'token', 'dave'])).stderr).toMatch(/user "dave" is disabled/);
  const actions = (await listAudit(pool)).map((r) => r.action);
  expect(actions).toEqual(expect.arrayContaining(['user.passwd', 'token.create', 'user.disable']));
});

test('at a terminal the password is asked twice and never echoed', async () => {
  // util-linux `script` gives the command a pseudo-terminal; answers are typed once a prompt shows.
  const command = [
    process.execPath,
    resolve(ROOT, 'packages/cli/dist/main.js'),
    'users',
    'add',
    'tina',
    '--role',
    'viewer',
    '--config-dir',
    dir,
  ];
  const child = spawn('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], { stdio: 'pipe' });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('close', res));
  await waitFor(() => screen.includes('Password for tina: '), 30_000, 'the password prompt');
  child.stdin.write('tty-Secret-99\n');
  await waitFor(() => screen.includes('Again: '), 30_000, 'the second prompt');
  child.stdin.write('tty-Secret-99\n');
  await waitFor(
    () => screen.includes('added viewer tina'),
    30_000,
    `the user added (screen: ${JSON.stringify(screen)})`,
  );
  child.stdin.end();
  expect(await exited).toBe(0);
  expect(screen).not.toContain('tty-Secret-99');
  const stored = await findUserForLogin(pool, 'tina');
  expect(await verifyPassword('tty-Secret-99', stored?.password_hash ?? '')).toBe(true);
});
