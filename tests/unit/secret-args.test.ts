import { randomBytes } from 'node:crypto';
import {
  ACTION_DEFINITIONS,
  SECRET_MASK,
  checkArgs,
  maskBodySecrets,
  maskSecretArgs,
  maskedSecretArg,
  sealSecretArgs,
  secretArgs,
  secretMasker,
  unsealSecretArgs,
} from '@cmq/actions';
import { Keyring } from '@cmq/common';

const ring = Keyring.fromText(`k1=${randomBytes(32).toString('base64')}\n`, 'k1');
const exec = { guest: 'web1', command: 'run "$TOKEN"', env: { TOKEN: 'tok-abcdef', USER_NAME: 'ops' } };

describe('secret arguments', () => {
  it('only guest.exec marks arguments secret: every value of its env', () => {
    const marked = ACTION_DEFINITIONS.filter((d) => d.secretArgs !== undefined).map((d) => [d.type, d.secretArgs]);
    expect(marked).toEqual([['guest.exec', ['env.*']]]);
    expect(secretArgs('guest.exec', exec)).toEqual([
      { path: ['env', 'TOKEN'], value: 'tok-abcdef' },
      { path: ['env', 'USER_NAME'], value: 'ops' },
    ]);
    expect(secretArgs('guest.exec', { guest: 'web1', command: 'true' })).toEqual([]);
    expect(secretArgs('noop', { env: { A: 'x' } })).toEqual([]);
    expect(secretArgs('guest.exec', { env: 'not an object' })).toEqual([]);
  });

  it('sealing masks them in the args (which still pass the schema, as the executor parses them) and encrypts them all', () => {
    const { args, sealed } = sealSecretArgs('guest.exec', exec, () => ring);
    expect(args).toEqual({ ...exec, env: { TOKEN: SECRET_MASK, USER_NAME: SECRET_MASK } });
    expect(exec.env.TOKEN).toBe('tok-abcdef');
    expect(maskSecretArgs('guest.exec', exec)).toEqual(args);
    const plain = { guest: 'g', command: 'true' };
    expect(maskSecretArgs('guest.exec', plain)).toBe(plain);
    expect(sealed).toMatch(/^v1:k1:/);
    expect(sealed).not.toContain('tok-abcdef');
    expect(checkArgs('guest.exec', args)).toMatchObject({ ok: true });
    expect(unsealSecretArgs(args, sealed, () => ring)).toEqual({ args: exec, secrets: ['tok-abcdef', 'ops'] });
  });

  it('asks for the keyring only when there is a secret', () => {
    const none = (): Keyring => {
      throw new Error('keyring asked for');
    };
    expect(sealSecretArgs('guest.exec', { guest: 'g', command: 'true' }, none)).toEqual({
      args: { guest: 'g', command: 'true' },
      sealed: null,
    });
    expect(sealSecretArgs('guest.exec', { guest: 'g', command: 'true', env: {} }, none).sealed).toBeNull();
    expect(unsealSecretArgs({ guest: 'g' }, null, none)).toEqual({ args: { guest: 'g' }, secrets: [] });
    expect(() => sealSecretArgs('guest.exec', exec, none)).toThrow('keyring asked for');
  });

  it('a key named __proto__ is masked and restored as a plain key, never left in clear', () => {
    const args = JSON.parse('{"guest":"g","command":"true","env":{"__proto__":"tok-hidden"}}') as Record<
      string,
      unknown
    >;
    const { args: stored, sealed } = sealSecretArgs('guest.exec', args, () => ring);
    expect(JSON.stringify(stored)).not.toContain('tok-hidden');
    expect(JSON.stringify(stored)).toContain('"__proto__":"****"');
    expect(JSON.stringify(unsealSecretArgs(stored, sealed, () => ring).args)).toBe(JSON.stringify(args));
  });

  it('masks known values in text, longest first, leaving values under 4 characters', () => {
    const mask = secretMasker(['tok-abcdef', 'tok', 'abcdef-tok-abcdef']);
    expect(mask('a abcdef-tok-abcdef b tok-abcdef c tok')).toBe('a **** b **** c tok');
    expect(secretMasker([])('unchanged')).toBe('unchanged');
  });

  it('masks a direct request body for dead letters; replaying one whose secret was masked is refused by name', () => {
    const body = Buffer.from(JSON.stringify({ type: 'guest.exec', tenant: 't1', args: exec }));
    const masked = maskBodySecrets(body);
    expect(masked.toString()).not.toContain('tok-abcdef');
    expect(JSON.parse(masked.toString())).toMatchObject({ tenant: 't1', args: { env: { TOKEN: SECRET_MASK } } });
    expect(maskedSecretArg(masked)).toBe('args.env.TOKEN');
    expect(maskedSecretArg(body)).toBeUndefined();
    // A relay's message names its row, which keeps the secrets: replaying it is fine.
    const relayed = Buffer.from(
      JSON.stringify({ id: '7', type: 'guest.exec', tenant: 't1', args: { env: { A: '****' } } }),
    );
    expect(maskedSecretArg(relayed)).toBeUndefined();
    for (const other of ['not json', '[1]', '{"type":"noop","args":{"env":{"A":"x"}}}'])
      expect(maskBodySecrets(Buffer.from(other)).toString()).toBe(other);
  });
});
