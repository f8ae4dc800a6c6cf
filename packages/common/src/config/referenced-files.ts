import { X509Certificate, type KeyObject, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parseKeysFile } from '../crypto/keyring';
import { errorText } from '../errors';

/**
 * Checks of the files that settings name (keys file, TLS CA, certificate and key): each must
 * exist, be a readable regular file and parse as its reader will parse it, so that a process
 * refuses to start (exit 78) instead of failing every action that needs the file later.
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

function parseKey(path: string, data: Buffer, passphrase: string): KeyObject | string {
  try {
    return createPrivateKey({ key: data, format: 'pem', passphrase: passphrase === '' ? undefined : passphrase });
  } catch (err) {
    const why = errorText(err);
    const hint = /passphrase|decrypt/i.test(why) ? '; check amqp.tls.passphrase' : '';
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

/** mq.cfg `amqp.tls.*`: the CA and certificate parse, the key parses with the passphrase and matches the certificate. */
export function checkTlsFiles(tls: { ca: string; cert: string; key: string; passphrase: string }): FileProblem[] {
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
  load('amqp.tls.ca', tls.ca, (data) => parseCertificates(tls.ca, data));
  const certs = load('amqp.tls.cert', tls.cert, (data) => parseCertificates(tls.cert, data));
  const key = load('amqp.tls.key', tls.key, (data) => parseKey(tls.key, data, tls.passphrase));
  const leaf = certs?.[0];
  if (leaf !== undefined && key !== undefined && !matches(leaf, key))
    problems.push(['amqp.tls.key', `${tls.key}: does not match the certificate in ${tls.cert} (amqp.tls.cert)`]);
  return problems;
}
