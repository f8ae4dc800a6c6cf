import { X509Certificate, type KeyObject, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parseKeysFile } from '../crypto/keyring';
import { errorText } from '../errors';

/**
 * Checks of the files that settings name (keys file; TLS CA, certificate and key of the broker,
 * PostgreSQL and Redis connections): each must exist, be a readable regular file, parse as its
 * reader will parse it and (a certificate) be valid now, so that a process refuses to start (exit 78) instead of failing every action that needs the file later.
 * Problems are `[key, message]`; each message starts with the file's path.
 */
export type FileProblem = [key: string, message: string];

/** The file's contents, or why it cannot be used. Relative paths were refused by the format. */
function readReferenced(path: string): { data: Buffer } | { problem: string } {
  try {
    if (!statSync(path).isFile()) return { problem: `${path}: is not a regular file` };
    return { data: readFileSync(path) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: `${path}: does not exist` };
    if (code === 'EACCES') return { problem: `${path}: cannot be read (permission denied for this user)` };
    return { problem: `${path}: cannot be read (${code ?? errorText(err)})` };
  }
}

/** The keys file parses as the keyring reads it, and holds `km.active_key_id` (when that is set). */
export function checkKeysFile(km: { keys_file: string; active_key_id: string }): FileProblem[] {
  if (!km.keys_file.startsWith('/')) return [];
  const read = readReferenced(km.keys_file);
  if ('problem' in read) return [['km.keys_file', read.problem]];
  let keys: Map<string, Buffer>;
  try {
    keys = parseKeysFile(read.data.toString('utf8'), km.keys_file);
  } catch (err) {
    return [['km.keys_file', errorText(err)]];
  } finally {
    read.data.fill(0);
  }
  const ids = [...keys.keys()];
  for (const key of keys.values()) key.fill(0);
  // An empty active id is reported by the file's cross-check.
  if (km.active_key_id === '' || ids.includes(km.active_key_id)) return [];
  return [
    ['km.active_key_id', `"${km.active_key_id}" is not in ${km.keys_file} (ids there: ${ids.join(', ') || 'none'})`],
  ];
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM file (a CA file may hold a bundle), or why there is none. */
function parseCertificates(path: string, data: Buffer): X509Certificate[] | string {
  const blocks = data.toString('latin1').match(PEM_CERT_RE) ?? [];
  if (blocks.length === 0) return `${path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return `${path}: is not a valid PEM certificate (${errorText(err)})`;
  }
}

function parseKey(path: string, data: Buffer, passphrase: string, passphraseKey: string): KeyObject | string {
  try {
    return createPrivateKey({ key: data, format: 'pem', passphrase: passphrase === '' ? undefined : passphrase });
  } catch (err) {
    const why = errorText(err);
    const hint = /passphrase|decrypt/i.test(why) ? `; check ${passphraseKey}` : '';
    return `${path}: is not a usable PEM private key (${why}${hint})`;
  }
}

function matches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false; // a key of another type than the certificate's
  }
}

/** Why `cert` cannot be used at `now` (expired, not yet valid), or undefined. */
function validityProblem(path: string, cert: X509Certificate, now: Date): string | undefined {
  const to = new Date(cert.validTo);
  const from = new Date(cert.validFrom);
  if (to.getTime() <= now.getTime())
    return `${path}: expired on ${to.toISOString()} (${cert.subject.replace(/\n/g, ', ')})`;
  if (from.getTime() > now.getTime()) return `${path}: is not valid before ${from.toISOString()}`;
  return undefined;
}

/** The TLS files of one client: `<prefix>.ca`, `.cert`, `.key` (and `.passphrase` when it has one). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  passphrase?: string;
}

/**
 * One client's TLS files (`prefix` is `amqp.tls`, `db.ssl` or `redis.tls`): the CA and
 * certificate parse and are valid now (a CA file fails when none of its certificates is), the
 * key parses (with the passphrase) and matches the certificate.
 */
export function checkTlsFiles(prefix: string, tls: TlsFiles, now: Date = new Date()): FileProblem[] {
  const problems: FileProblem[] = [];
  const load = <T>(key: string, path: string, parse: (data: Buffer) => T | string): T | undefined => {
    if (!path.startsWith('/')) return undefined;
    const read = readReferenced(path);
    const parsed = 'problem' in read ? read.problem : parse(read.data);
    if (typeof parsed === 'string') {
      problems.push([key, parsed]);
      return undefined;
    }
    return parsed;
  };
  const valid = (path: string, certs: X509Certificate[] | string, all: boolean): X509Certificate[] | string => {
    if (typeof certs === 'string') return certs;
    const why = certs.map((c) => validityProblem(path, c, now));
    const bad = all ? why.every((w) => w !== undefined) : why[0] !== undefined;
    return bad ? (why[0] as string) : certs;
  };
  load(`${prefix}.ca`, tls.ca, (data) => valid(tls.ca, parseCertificates(tls.ca, data), true));
  const certs = load(`${prefix}.cert`, tls.cert, (data) => valid(tls.cert, parseCertificates(tls.cert, data), false));
  const key = load(`${prefix}.key`, tls.key, (data) =>
    parseKey(tls.key, data, tls.passphrase ?? '', `${prefix}.passphrase`),
  );
  const leaf = certs?.[0];
  if (leaf !== undefined && key !== undefined && !matches(leaf, key))
    problems.push([`${prefix}.key`, `${tls.key}: does not match the certificate in ${tls.cert} (${prefix}.cert)`]);
  return problems;
}

const DAY_MS = 86_400_000;

/**
 * A warning for each certificate file of `files` (`[key, path]`, e.g. `['amqp.tls.cert', '/etc/...']`)
 * that expires within `withinDays` of `now`: "certificate PATH (KEYS) expires on DATE, in N days",
 * one per file whatever the number of keys naming it. Files that cannot be read or parsed are
 * left out: the start-up check refused them already.
 */
export function expiryWarnings(files: ReadonlyArray<[string, string]>, withinDays: number, now = new Date()): string[] {
  const keysOf = new Map<string, string[]>();
  for (const [key, path] of files) if (path.startsWith('/')) keysOf.set(path, [...(keysOf.get(path) ?? []), key]);
  const out: string[] = [];
  for (const [path, keys] of keysOf) {
    const read = readReferenced(path);
    if ('problem' in read) continue;
    const certs = parseCertificates(path, read.data);
    if (typeof certs === 'string') continue;
    const soonest = Math.min(...certs.map((c) => new Date(c.validTo).getTime()));
    const left = soonest - now.getTime();
    if (left > 0 && left <= withinDays * DAY_MS)
      out.push(
        `certificate ${path} (${keys.join(', ')}) expires on ${new Date(soonest).toISOString()}, in ${Math.ceil(left / DAY_MS)} days`,
      );
  }
  return out;
}

/** Every certificate file a process's configuration names, as `[key, path]`. */
export function certificateFiles(config: {
  amqp: { tls: TlsFiles };
  db: { ssl?: TlsFiles };
  redis: { tls?: TlsFiles };
}): Array<[string, string]> {
  return [
    ['amqp.tls.ca', config.amqp.tls.ca],
    ['amqp.tls.cert', config.amqp.tls.cert],
    ['db.ssl.ca', config.db.ssl?.ca ?? ''],
    ['db.ssl.cert', config.db.ssl?.cert ?? ''],
    ['redis.tls.ca', config.redis.tls?.ca ?? ''],
    ['redis.tls.cert', config.redis.tls?.cert ?? ''],
  ];
}
