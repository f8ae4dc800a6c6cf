import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREDENTIAL_FIELDS, PROVIDERS, accountPlaceProblems, checkCredentials, credentialProblems } from '@cmq/actions';
import { credentialsOfForm, limitsOfForm, shownValues } from '@cmq/console/src/acts/account-form';

/** The console's account forms: credentials from typed fields, errors beside them, never a value in a message. */
describe('account forms', () => {
  let dir: string;
  let pair: { ssh_private_key: string; ssh_public_key: string };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cmq-account-form-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    pair = {
      ssh_private_key: readFileSync(join(dir, 'k'), 'utf8'),
      ssh_public_key: readFileSync(join(dir, 'k.pub'), 'utf8').trim(),
    };
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every provider has form fields for exactly the keys its credentials take', () => {
    for (const p of PROVIDERS) {
      const keys = CREDENTIAL_FIELDS[p].map((f) => f.key);
      expect(new Set(keys).size).toBe(keys.length);
      // Every form field is a key the schema knows (no 'unknown field(s)'), and every key has a field.
      const all = credentialProblems(p, Object.fromEntries(keys.map((k) => [k, 'x'])));
      expect([p, all.filter((i) => i.field === '')]).toEqual([p, []]);
      const none = credentialProblems(p, {}).map((i) => i.field);
      expect(none.filter((f) => !keys.includes(f))).toEqual([]);
    }
  });

  it('a key pasted into a textarea (CRLF line ends) is stored with LF, as the file was', () => {
    const body = {
      'cred.ssh_private_key': pair.ssh_private_key.replace(/\n/g, '\r\n'),
      'cred.ssh_public_key': ` ${pair.ssh_public_key} `,
    };
    const r = credentialsOfForm('local', 'ta', body);
    expect(r).toEqual({ text: JSON.stringify(pair), generated: false });
    if ('text' in r) expect(checkCredentials('local', r.text)).toBe(JSON.stringify(pair));
  });

  it('a local account with neither half typed gets a new pair; with one half, the other is required', () => {
    const made = credentialsOfForm('local', 'ta', {});
    expect(made).toMatchObject({ generated: true });
    expect(credentialsOfForm('local', 'ta', { 'cred.ssh_public_key': pair.ssh_public_key })).toEqual({
      errors: { 'cred.ssh_private_key': 'required' },
    });
  });

  it('errors sit beside their fields and never hold what was typed', () => {
    const secret = 'shortSecret1';
    const r = credentialsOfForm('ec2', 'ta', {
      'cred.access_key_id': 'bad key id!',
      'cred.secret_access_key': secret,
    });
    expect(Object.keys('errors' in r ? r.errors : {}).sort()).toEqual(['cred.access_key_id', 'cred.secret_access_key']);
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(JSON.stringify(r)).not.toContain('bad key id!');
    expect(
      credentialsOfForm('ipmi', 'ta', { 'cred.user': 'admin', 'cred.password': 'pw', 'cred.cipher_suite': 'x' }),
    ).toEqual({
      errors: { 'cred.cipher_suite': 'an integer' },
    });
    expect(
      credentialsOfForm('ipmi', 'ta', { 'cred.user': 'admin', 'cred.password': 'pw', 'cred.cipher_suite': '3' }),
    ).toEqual({ text: JSON.stringify({ user: 'admin', password: 'pw', cipher_suite: 3 }), generated: false });
  });

  it('a credential pasted into region or endpoint is not quoted by their errors (page and audit row)', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const problems = accountPlaceProblems('ec2', secret, `${secret}@host`);
    expect(problems).toEqual([
      { field: 'region', message: 'region: use 1-63 of a-z, 0-9 and -' },
      { field: 'endpoint', message: 'endpoint: an http:// or https:// URL' },
    ]);
    expect(JSON.stringify(accountPlaceProblems('ipmi', 'rack1', secret))).not.toContain(secret);
  });

  it('only tenant, region, endpoint, rate and burst are shown again; rate and burst checked as the CLI does', () => {
    expect(shownValues({ tenant: 'ta', region: 'lo', 'cred.password': 'pw', _csrf: 't' })).toEqual({
      tenant: 'ta',
      region: 'lo',
    });
    expect(limitsOfForm({ rate: '2.5', burst: '10' })).toEqual({ rate: 2.5, burst: 10, errors: {} });
    expect(Object.keys(limitsOfForm({ rate: '-1', burst: '1.5' }).errors)).toEqual(['rate', 'burst']);
  });
});
