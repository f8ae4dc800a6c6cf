import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './config-dir';
import { execFileP } from './process';

/**
 * A throwaway certificate authority for one test file, made with openssl (EC P-256 keys: quick):
 * a CA, a server certificate for `serverNames` (DNS names and IP addresses), client certificates
 * it signs, one it signed with dates long past, and a second, unrelated CA. Every file is
 * world-readable (the broker and PostgreSQL run as their own users); keys are unencrypted.
 */
export class TestPki {
  private constructor(readonly dir: string) {}

  /** `name`.crt / `name`.key in the PKI's directory. */
  cert(name: string): string {
    return join(this.dir, `${name}.crt`);
  }

  key(name: string): string {
    return join(this.dir, `${name}.key`);
  }

  /** CA `ca`, server `server` (for `serverNames`), other CA `other-ca`, in `dir` (a new one by default). */
  static async create(serverNames: string[], dir = tempDir('cmq-pki-')): Promise<TestPki> {
    const pki = new TestPki(dir);
    chmodSync(pki.dir, 0o755);
    await pki.selfSigned('ca', '/CN=cmq-test-ca', true);
    await pki.selfSigned('other-ca', '/CN=cmq-other-ca', true);
    const san = serverNames.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    await pki.signed(
      'server',
      `/CN=${serverNames[0] ?? 'localhost'}`,
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth`,
    );
    return pki;
  }

  /** A client certificate for `cn` signed by `ca` (`ca` or `other-ca`). */
  async client(name: string, cn: string, ca = 'ca'): Promise<void> {
    await this.signed(name, `/CN=${cn}`, 'extendedKeyUsage=clientAuth', ca);
  }

  /** A client certificate for `cn` signed by the CA, valid only in January 2020. */
  async expiredClient(name: string, cn: string): Promise<void> {
    await this.newKey(name, cn);
    const db = join(this.dir, `${name}.db`);
    writeFileSync(join(db + '.index'), '');
    writeFileSync(join(db + '.serial'), '1000\n');
    const cnf = join(this.dir, `${name}.cnf`);
    writeFileSync(
      cnf,
      `[ca]\ndefault_ca=c\n[c]\ndatabase=${db}.index\nnew_certs_dir=${this.dir}\nserial=${db}.serial\n` +
        `default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`,
    );
    // `openssl req -x509 -days` cannot go back in time; `openssl ca` takes explicit dates.
    await this.openssl(
      'ca',
      '-batch',
      '-config',
      cnf,
      '-cert',
      this.cert('ca'),
      '-keyfile',
      this.key('ca'),
      '-in',
      join(this.dir, `${name}.csr`),
      '-out',
      this.cert(name),
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-notext',
    );
    chmodSync(this.cert(name), 0o644);
  }

  private async selfSigned(name: string, subject: string, ca: boolean): Promise<void> {
    await this.openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      this.key(name),
      '-out',
      this.cert(name),
      '-days',
      '2',
      '-subj',
      subject,
      ...(ca
        ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
        : []),
    );
    chmodSync(this.key(name), 0o644);
  }

  private async newKey(name: string, cn: string): Promise<void> {
    await this.openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      this.key(name),
      '-out',
      join(this.dir, `${name}.csr`),
      '-subj',
      `/CN=${cn}`,
    );
    chmodSync(this.key(name), 0o644);
  }

  private async signed(name: string, subject: string, ext: string, ca = 'ca'): Promise<void> {
    await this.newKey(name, subject.replace(/^\/CN=/, ''));
    const extFile = join(this.dir, `${name}.ext`);
    writeFileSync(extFile, `basicConstraints=CA:FALSE\n${ext}\n`);
    await this.openssl(
      'x509',
      '-req',
      '-in',
      join(this.dir, `${name}.csr`),
      '-CA',
      this.cert(ca),
      '-CAkey',
      this.key(ca),
      '-CAcreateserial',
      '-out',
      this.cert(name),
      '-days',
      '2',
      '-extfile',
      extFile,
    );
    chmodSync(this.cert(name), 0o644);
  }

  private async openssl(...args: string[]): Promise<void> {
    await execFileP('openssl', args, { timeout: 30_000 });
  }
}
