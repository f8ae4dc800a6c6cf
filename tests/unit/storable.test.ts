import { parseRequest, storableJson, storableText, unstorable } from '@cmq/actions';

describe('unstorable: what PostgreSQL cannot store, found with its path', () => {
  it('finds a NUL or half a surrogate pair in strings, keys, arrays and nested objects', () => {
    expect(unstorable('a\u0000b', 'tenant')).toBe('tenant: contains U+0000 (NUL), which cannot be stored');
    expect(unstorable({ env: { X: 'ok', Y: ['fine', 'bad\ud83d'] } }, 'args')).toBe(
      'args.env.Y.1: contains U+D83D, half a UTF-16 surrogate pair (not Unicode text), which cannot be stored',
    );
    expect(unstorable({ 'k\u0000': 1 }, 'args')).toBe('args: a key contains U+0000 (NUL), which cannot be stored');
    expect(unstorable(['\udc00x'], 'args')).toBe(
      'args.0: contains U+DC00, half a UTF-16 surrogate pair (not Unicode text), which cannot be stored',
    );
  });

  it('accepts whole surrogate pairs, other control characters and non-strings', () => {
    expect(
      unstorable({ note: 'rocket \ud83d\ude80', tab: 'a\tb\u0001', n: 5, none: null, list: [true, 1.5] }, 'args'),
    ).toBeUndefined();
    expect(unstorable(undefined, 'idempotency_key')).toBeUndefined();
  });

  it('storableJson writes a NUL as \\u0000 and half a surrogate pair as U+FFFD, in keys too; other values unchanged', () => {
    expect(
      JSON.parse(
        storableJson({
          stdout: 'a\u0000b',
          ['k\u0000']: ['x\ud800y', 'rocket \ud83d\ude80'],
          at: new Date(0),
          raw: Buffer.from([0, 1]),
          n: 1,
        }),
      ),
    ).toEqual({
      stdout: 'a\\u0000b',
      'k\\u0000': ['x\ufffdy', 'rocket \ud83d\ude80'],
      at: '1970-01-01T00:00:00.000Z',
      raw: { type: 'Buffer', data: [0, 1] },
      n: 1,
    });
    const self = {
      note: 'x\u0000',
      toJSON(): unknown {
        return this;
      },
    };
    expect(JSON.parse(storableJson({ self }))).toEqual({ self: { note: 'x\\u0000' } });
    const clean = { code: 0, stdout: 'hello \\u0000 (typed, not a NUL)\n', list: [1, null] };
    expect(storableJson(clean)).toBe(JSON.stringify(clean));
  });

  it('storableText writes each NUL as \\u0000 and leaves other text alone', () => {
    expect(storableText('a\u0000b\u0000')).toBe('a\\u0000b\\u0000');
    expect(storableText('plain')).toBe('plain');
  });
});

describe('parseRequest refuses unstorable text, naming the field', () => {
  it.each([
    [{ type: 'noop\u0000', tenant: 'acme' }, 'type: contains U+0000 (NUL), which cannot be stored'],
    [{ type: 'noop', tenant: 'acme\u0000' }, 'tenant: contains U+0000 (NUL), which cannot be stored'],
    [
      { type: 'noop', tenant: 'acme', idempotency_key: 'k\ud800' },
      'idempotency_key: contains U+D800, half a UTF-16 surrogate pair (not Unicode text), which cannot be stored',
    ],
    [
      { type: 'guest.exec', tenant: 'acme', args: { guest: 'web1', command: 'echo', env: { TOKEN: 'x\u0000' } } },
      'args.env.TOKEN: contains U+0000 (NUL), which cannot be stored',
    ],
  ])('%j', (raw, error) => {
    const checked = parseRequest(raw);
    expect(checked).toMatchObject({ ok: false, error });
    // The issue names the field as a path (what the console places it by).
    expect(checked.ok ? [] : checked.issues.map((i) => i.path.join('.'))).toEqual([error.split(':')[0]]);
  });

  it('takes the same request without them', () => {
    expect(
      parseRequest({
        type: 'guest.exec',
        tenant: 'acme',
        args: { guest: 'web1', command: 'echo \ud83d\ude80', env: { TOKEN: 'x' } },
      }),
    ).toMatchObject({ ok: true });
  });
});
