import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CmqError } from '../errors';

/** Key ids: short, safe inside the `v1:<id>:...` format and in file lines. */
const KEY_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/**
 * Parses a keys file's text: one `id=base64(32 bytes)` per line, `#` comments and blank lines
 * ignored. Errors name the file and line number, never the line's content (it is a key).
 * @throws CmqError CMQ_ERR_KEYS_FILE
 */
export function parseKeysFile(text: string, source: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const id = eq > 0 ? line.slice(0, eq).trim() : '';
    const b64 = eq > 0 ? line.slice(eq + 1).trim() : '';
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    const where = `${source} line ${index + 1}`;
    if (!KEY_ID_RE.test(id) || key.length !== KEY_BYTES) {
      throw new CmqError(
        'CMQ_ERR_KEYS_FILE',
        `${where}: not "id=base64 of ${KEY_BYTES} bytes" (id: 1-64 of A-Z a-z 0-9 _ . -); see km.keys_file`,
      );
    }
    if (keys.has(id)) throw new CmqError('CMQ_ERR_KEYS_FILE', `${where}: key id "${id}" appears twice`);
    keys.set(id, key);
  });
  return keys;
}

/** A new key line, `id=base64(32 random bytes)`. */
export function generateKeyLine(id: string): string {
  if (!KEY_ID_RE.test(id)) throw new CmqError('CMQ_ERR_KEYS_FILE', `key id "${id}": use 1-64 of A-Z a-z 0-9 _ . -`);
  return `${id}=${randomBytes(KEY_BYTES).toString('base64')}`;
}

/**
 * The keys of `km-client.cfg`: encrypts secrets with AES-256-GCM under the active key, and
 * decrypts with whichever key id a ciphertext names, so that keys can rotate. Ciphertext format:
 * `v1:<key id>:<iv b64>:<tag b64>:<ciphertext b64>`. No error carries key material or plaintext.
 */
export class Keyring {
  private constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly activeKeyId: string,
  ) {}

  /** @throws CmqError CMQ_ERR_KEYS_FILE (unreadable or malformed file), CMQ_ERR_KEY_UNKNOWN (active id not in it). */
  static fromText(text: string, activeKeyId: string, source = 'keys'): Keyring {
    const keys = parseKeysFile(text, source);
    if (!keys.has(activeKeyId)) {
      throw new CmqError(
        'CMQ_ERR_KEY_UNKNOWN',
        `km.active_key_id "${activeKeyId}" is not in ${source} (ids there: ${[...keys.keys()].join(', ') || 'none'})`,
      );
    }
    return new Keyring(keys, activeKeyId);
  }

  /**
   * Reads `km.keys_file` (the `km` section of km-client.cfg; typed here by shape so that the
   * config package can check the file with this parser without an import cycle).
   * @throws CmqError CMQ_ERR_KEYS_FILE when unset or unreadable.
   */
  static fromConfig(km: { readonly keys_file: string; readonly active_key_id: string }): Keyring {
    if (km.keys_file === '')
      throw new CmqError('CMQ_ERR_KEYS_FILE', 'no keys file: set km.keys_file and km.active_key_id in km-client.cfg');
    let text: string;
    try {
      text = readFileSync(km.keys_file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CmqError('CMQ_ERR_KEYS_FILE', `cannot read km.keys_file ${km.keys_file}: ${code}`);
    }
    return Keyring.fromText(text, km.active_key_id, km.keys_file);
  }

  /**
   * The keyring of km-client.cfg, or undefined when km.keys_file is unset (a process without
   * secrets needs none); what intake asks for before it seals secret arguments.
   * @throws CmqError as {@link Keyring.fromConfig} when the file is set but unusable.
   */
  static ifSet(km: { readonly keys_file: string; readonly active_key_id: string }): Keyring | undefined {
    return km.keys_file === '' ? undefined : Keyring.fromConfig(km);
  }

  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  encrypt(plaintext: string | Buffer): string {
    const key = this.keys.get(this.activeKeyId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`${VERSION}:${this.activeKeyId}`));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return [
      VERSION,
      this.activeKeyId,
      iv.toString('base64'),
      cipher.getAuthTag().toString('base64'),
      ct.toString('base64'),
    ].join(':');
  }

  /**
   * @throws CmqError CMQ_ERR_CIPHERTEXT (malformed), CMQ_ERR_KEY_UNKNOWN (its key id is not in the
   * keys file), CMQ_ERR_DECRYPT (authentication failed: wrong key or altered data).
   */
  decrypt(ciphertext: string): Buffer {
    const parts = ciphertext.split(':');
    const [version, keyId, ivB64, tagB64, ctB64] = parts;
    if (
      parts.length !== 5 ||
      version !== VERSION ||
      keyId === undefined ||
      ivB64 === undefined ||
      tagB64 === undefined ||
      ctB64 === undefined
    ) {
      throw new CmqError(
        'CMQ_ERR_CIPHERTEXT',
        `not a ${VERSION} ciphertext (expected ${VERSION}:<key id>:<iv>:<tag>:<data>)`,
      );
    }
    const key = this.keys.get(keyId);
    if (key === undefined)
      throw new CmqError(
        'CMQ_ERR_KEY_UNKNOWN',
        `secret encrypted under key id "${keyId}", which is not in km.keys_file`,
      );
    const iv = Buffer.from(ivB64, 'base64');
    const tag = Buffer.from(tagB64, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
      throw new CmqError('CMQ_ERR_CIPHERTEXT', `malformed ${VERSION} ciphertext (iv or tag length)`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(`${VERSION}:${keyId}`));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ctB64, 'base64')), decipher.final()]);
    } catch {
      throw new CmqError(
        'CMQ_ERR_DECRYPT',
        `secret under key id "${keyId}" failed authentication: wrong key for that id, or altered data`,
      );
    }
  }
}
