import { checkCredentials } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import { CobblerClient, cobblerFaultText, parseBmcEndpoint } from '@cmq/drivers';
import { FakeCobbler } from '../helpers/fake-cobbler';
import { freePort } from '../helpers/private-servers';

/** CobblerClient against a FAKE Cobbler XML-RPC server (Cobbler cannot run here; see fake-cobbler.ts). */
const PASSWORD = 'cobbler-client-secret-1';
let fake: FakeCobbler;

beforeAll(async () => {
  fake = await new FakeCobbler({ cmq: PASSWORD, '': 'shared-secret-xyz' }, ['node1']).start();
});

afterAll(async () => {
  await fake.close();
});

async function failure(p: Promise<unknown>): Promise<CmqError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CmqError)) throw new Error(`expected a CmqError, got ${String(err)}`);
  return err;
}

it('a refused login is CMQ_ERR_COBBLER_LOGIN, permanent, with no password in the message', async () => {
  const client = new CobblerClient({ endpoint: fake.endpoint, user: 'cmq', password: 'wrong-password-1' });
  const err = await failure(client.power('node1', 'status'));
  expect(err).toMatchObject({ code: 'CMQ_ERR_COBBLER_LOGIN', transient: false });
  expect(err.message).toMatch(/^cobbler 127\.0\.0\.1:\d+ login: login failed \(cmq\): /);
  expect(err.message).not.toContain('wrong-password-1');
});

it('logs in with the shared secret (empty user) and reads, powers and saves', async () => {
  const client = new CobblerClient({ endpoint: fake.endpoint, user: '', password: 'shared-secret-xyz' });
  expect(await client.power('node1', 'status')).toBe(true);
  await client.power('node1', 'off');
  expect(await client.power('node1', 'status')).toBe(false);
  await client.assignProfile('node1', 'debian12');
  expect(await client.getSystem('node1')).toMatchObject({ profile: 'debian12', netboot_enabled: true });
  expect(fake.countCalls('login')).toBeGreaterThanOrEqual(1);
});

it("other faults are CMQ_ERR_COBBLER_FAULT with Cobbler's text; an unknown profile changes nothing", async () => {
  const client = new CobblerClient({ endpoint: fake.endpoint, user: 'cmq', password: PASSWORD });
  expect(await failure(client.power('nosuch', 'status'))).toMatchObject({
    code: 'CMQ_ERR_COBBLER_FAULT',
    transient: false,
    message: expect.stringContaining('get_system_handle: internal error, unknown system name nosuch') as unknown,
  });
  const before = fake.systems.get('node1')?.profile;
  expect(await failure(client.assignProfile('node1', 'nosuch'))).toMatchObject({
    code: 'CMQ_ERR_COBBLER_FAULT',
    message: expect.stringContaining('invalid profile name: nosuch') as unknown,
  });
  expect(fake.systems.get('node1')?.profile).toBe(before);
});

it('nothing listening, or an aborted call, is CMQ_ERR_COBBLER_UNREACHABLE, transient', async () => {
  const port = await freePort();
  const gone = new CobblerClient({ endpoint: `http://127.0.0.1:${port}/cobbler_api`, user: 'cmq', password: PASSWORD });
  expect(await failure(gone.listSystems())).toMatchObject({ code: 'CMQ_ERR_COBBLER_UNREACHABLE', transient: true });
  fake.syncGate = new Promise(() => undefined);
  try {
    const client = new CobblerClient({ endpoint: fake.endpoint, user: 'cmq', password: PASSWORD });
    const ac = new AbortController();
    const pending = failure(client.sync(ac.signal));
    setTimeout(() => ac.abort(), 100);
    expect(await pending).toMatchObject({ code: 'CMQ_ERR_COBBLER_UNREACHABLE', transient: true });
  } finally {
    fake.syncGate = undefined;
  }
});

it("parses Cobbler's fault strings and BMC endpoints", () => {
  expect(cobblerFaultText("<class 'cobbler.cexceptions.CX'>:'login failed (cmq)'")).toBe('login failed (cmq)');
  expect(cobblerFaultText('plain text')).toBe('plain text');
  expect(parseBmcEndpoint('ipmi://10.0.9.21')).toEqual({ host: '10.0.9.21', port: 623 });
  expect(parseBmcEndpoint('ipmi://127.0.0.1:9623')).toEqual({ host: '127.0.0.1', port: 9623 });
  expect(parseBmcEndpoint('ipmi://[::1]:9623')).toEqual({ host: '::1', port: 9623 });
});

it('checks cobbler and ipmi credentials, naming fields, never values', () => {
  expect(JSON.parse(checkCredentials('ipmi', '{"user":"admin","password":"pw"}'))).toEqual({
    user: 'admin',
    password: 'pw',
  });
  expect(() => checkCredentials('ipmi', '{"user":"admin","password":"this-is-longer-than-20"}')).toThrow(
    /credentials file for ipmi: password: .*expected \{"user": \.\.\., "password": \.\.\.\}/,
  );
  expect(() => checkCredentials('ipmi', '{"user":"admin","password":"this-is-longer-than-20"}')).not.toThrow(
    /this-is-longer/,
  );
  expect(() => checkCredentials('cobbler', '{"user":"cmq"}')).toThrow(/password: /);
});
