import { randomBytes } from 'node:crypto';
import { CmqError, Keyring, generateKeyLine, parseKeysFile } from '@cmq/common';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CmqError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('did not throw');
}

describe('Keyring', () => {
  it('round-trips under the active key, and the ciphertext names its key id', () => {
    const ring = Keyring.fromText(`# keys\nk1=${k1}\n\nk2=${k2}\n`, 'k2');
    const ct = ring.encrypt('-----BEGIN OPENSSH PRIVATE KEY----- secret');
    expect(ct).toMatch(/^v1:k2:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(ct).not.toContain('secret');
    expect(ring.decrypt(ct).toString()).toBe('-----BEGIN OPENSSH PRIVATE KEY----- secret');
    expect(ring.encrypt('x')).not.toBe(ring.encrypt('x'));
  });

  it('keeps decrypting what an older key encrypted after the active key changes (rotation)', () => {
    const old = Keyring.fromText(`k1=${k1}`, 'k1');
    const ct = old.encrypt('s3cret');
    const rotated = Keyring.fromText(`k1=${k1}\nk2=${k2}`, 'k2');
    expect(rotated.decrypt(ct).toString()).toBe('s3cret');
    expect(rotated.encrypt('y').startsWith('v1:k2:')).toBe(true);
  });

  it('refuses an unknown key id, naming the id only', () => {
    const ct = Keyring.fromText(`k1=${k1}`, 'k1').encrypt('s3cret');
    const e = codeOf(() => Keyring.fromText(`k2=${k2}`, 'k2').decrypt(ct));
    expect(e.code).toBe('CMQ_ERR_KEY_UNKNOWN');
    expect(e.message).toContain('"k1"');
    expect(codeOf(() => Keyring.fromText(`k1=${k1}`, 'nope')).code).toBe('CMQ_ERR_KEY_UNKNOWN');
  });

  it('fails authentication on a wrong key under the same id or altered data, without key or plaintext in the message', () => {
    const ct = Keyring.fromText(`k1=${k1}`, 'k1').encrypt('s3cret');
    const wrong = codeOf(() => Keyring.fromText(`k1=${k2}`, 'k1').decrypt(ct));
    expect(wrong.code).toBe('CMQ_ERR_DECRYPT');
    const parts = ct.split(':');
    const data = Buffer.from(parts[4] as string, 'base64');
    data[0] = (data[0] as number) ^ 1;
    parts[4] = data.toString('base64');
    const altered = codeOf(() => Keyring.fromText(`k1=${k1}`, 'k1').decrypt(parts.join(':')));
    expect(altered.code).toBe('CMQ_ERR_DECRYPT');
    for (const m of [wrong.message, altered.message]) {
      expect(m).not.toContain(k1);
      expect(m).not.toContain(k2);
      expect(m).not.toContain('s3cret');
    }
    expect(codeOf(() => Keyring.fromText(`k1=${k1}`, 'k1').decrypt('plain text')).code).toBe('CMQ_ERR_CIPHERTEXT');
  });

  it('reports a bad line by number, never its content', () => {
    const short = randomBytes(16).toString('base64');
    const e = codeOf(() => parseKeysFile(`k1=${k1}\nk2=${short}\n`, '/etc/keys'));
    expect(e.code).toBe('CMQ_ERR_KEYS_FILE');
    expect(e.message).toContain('/etc/keys line 2');
    expect(e.message).not.toContain(short);
    expect(e.message).not.toContain(k1);
    expect(codeOf(() => parseKeysFile(`${k1}\n`, 'f')).message).not.toContain(k1);
    expect(codeOf(() => parseKeysFile(`a=${k1}\na=${k2}`, 'f')).message).toContain('line 2');
  });

  it('reads km.keys_file, and says which setting when it is missing or unset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmq-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `${generateKeyLine('a')}\n`);
    expect(Keyring.fromConfig({ keys_file: file, active_key_id: 'a' }).keyIds()).toEqual(['a']);
    const missing = codeOf(() => Keyring.fromConfig({ keys_file: join(dir, 'none'), active_key_id: 'a' }));
    expect(missing).toEqual({ code: 'CMQ_ERR_KEYS_FILE', message: expect.stringContaining('km.keys_file') as string });
    expect(codeOf(() => Keyring.fromConfig({ keys_file: '', active_key_id: '' })).message).toContain('km.keys_file');
  });

  it('ifSet: no keyring when km.keys_file is unset, the file read when set, its errors kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmq-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `${generateKeyLine('a')}\n`);
    expect(Keyring.ifSet({ keys_file: '', active_key_id: '' })).toBeUndefined();
    expect(Keyring.ifSet({ keys_file: file, active_key_id: 'a' })?.keyIds()).toEqual(['a']);
    expect(codeOf(() => Keyring.ifSet({ keys_file: join(dir, 'none'), active_key_id: 'a' })).code).toBe(
      'CMQ_ERR_KEYS_FILE',
    );
  });
});
