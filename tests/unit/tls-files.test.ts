import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkTlsFiles, expiryWarnings, sslOptions } from '@cmq/common';
import { TestPki } from '../helpers/test-pki';

// The TLS file checks and the expiry warnings at chosen instants, and the pg `ssl` option each
// db.ssl.mode gives. The certificates are real (openssl, valid two days from now).

let pki: TestPki;
let validTo: Date;

beforeAll(async () => {
  pki = await TestPki.create(['localhost']);
  await pki.client('c', 'worker-1');
  validTo = new Date(new X509Certificate(readFileSync(pki.cert('c'))).validTo);
}, 30_000);

const files = (): { ca: string; cert: string; key: string } => ({
  ca: pki.cert('ca'),
  cert: pki.cert('c'),
  key: pki.key('c'),
});
const DAY = 86_400_000;

describe('checkTlsFiles', () => {
  it('accepts a valid CA, certificate and matching key', () => {
    expect(checkTlsFiles('db.ssl', files())).toEqual([]);
  });

  it('names an expired certificate and CA with their keys once their end has passed', () => {
    const later = new Date(validTo.getTime() + DAY);
    const problems = checkTlsFiles('redis.tls', files(), later);
    expect(problems.map(([key]) => key)).toEqual(['redis.tls.ca', 'redis.tls.cert']);
    expect(problems[1]?.[1]).toBe(`${pki.cert('c')}: expired on ${validTo.toISOString()} (CN=worker-1)`);
  });

  it('names a certificate not valid yet', () => {
    const earlier = new Date(Date.now() - 10 * DAY);
    expect(checkTlsFiles('amqp.tls', { ...files(), ca: '' }, earlier)).toEqual([
      ['amqp.tls.cert', expect.stringMatching(new RegExp(`^${pki.cert('c')}: is not valid before `))],
    ]);
  });

  it('names a key of another certificate, with the prefix of its keys', () => {
    expect(checkTlsFiles('db.ssl', { ...files(), key: pki.key('server') })).toEqual([
      ['db.ssl.key', `${pki.key('server')}: does not match the certificate in ${pki.cert('c')} (db.ssl.cert)`],
    ]);
  });
});

describe('expiryWarnings', () => {
  const named = (): Array<[string, string]> => [
    ['amqp.tls.cert', pki.cert('c')],
    ['db.ssl.cert', pki.cert('c')],
    ['db.ssl.ca', ''],
  ];

  it('warns once per file, naming every key, within the window', () => {
    expect(expiryWarnings(named(), 14)).toEqual([
      `certificate ${pki.cert('c')} (amqp.tls.cert, db.ssl.cert) expires on ${validTo.toISOString()}, in 2 days`,
    ]);
  });

  it('says nothing outside the window, with the warning off, or once expired (the start-up check refuses that)', () => {
    expect(expiryWarnings(named(), 1)).toEqual([]);
    expect(expiryWarnings(named(), 0)).toEqual([]);
    expect(expiryWarnings(named(), 14, new Date(validTo.getTime() + 1))).toEqual([]);
  });
});

describe('sslOptions', () => {
  const ssl = (mode: 'disable' | 'require' | 'verify-ca' | 'verify-full') => sslOptions({ mode, ...files() });

  it('is off for disable, unverified for require, without the name check for verify-ca, full for verify-full', () => {
    expect(ssl('disable')).toBe(false);
    expect(ssl('require')).toMatchObject({ rejectUnauthorized: false });
    const verifyCa = ssl('verify-ca');
    expect(verifyCa).not.toHaveProperty('rejectUnauthorized');
    expect(verifyCa === false ? undefined : verifyCa.checkServerIdentity?.('other-host', {} as never)).toBeUndefined();
    const full = ssl('verify-full');
    expect(full).not.toHaveProperty('checkServerIdentity');
    expect(full === false ? undefined : full.cert).toEqual(readFileSync(pki.cert('c')));
  });
});
