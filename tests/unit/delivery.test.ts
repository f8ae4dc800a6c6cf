import { classify } from '@cmq/subscriber';

const body = (text: string): Buffer => Buffer.from(text);

describe('classify: what a subscriber makes of a message body', () => {
  it('names a bad id shortly, whatever its shape, and never throws on it', () => {
    const deep = `{"id":${'['.repeat(10_000)}${']'.repeat(10_000)},"tenant":"t1"}`;
    expect(classify(body(deep), 1 << 20)).toEqual({ kind: 'invalid', reason: 'id: an array is not an action id', tenant: 't1' });
    expect(classify(body('{"id":{"a":1}}'), 4096)).toMatchObject({ reason: 'id: an object is not an action id' });
    expect(classify(body(`{"id":"${'9'.repeat(60)}"}`), 4096)).toMatchObject({ reason: `id: "${'9'.repeat(40)}..." is not an action id` });
    expect(classify(body('{"id":9007199254740993}'), 4096)).toMatchObject({ reason: 'id: 9007199254740992 is not an action id' });
    expect(classify(body('{"id":"9223372036854775808"}'), 4096)).toMatchObject({ reason: 'id: "9223372036854775808" is not an action id' });
  });

  it('takes a relay message by its id, string or safe number', () => {
    expect(classify(body('{"id":"9223372036854775807","tenant":"t1"}'), 4096)).toEqual({ kind: 'action', id: '9223372036854775807', tenant: 't1' });
    expect(classify(body('{"id":42}'), 4096)).toEqual({ kind: 'action', id: '42', tenant: null });
  });

  it('marks an oversize body unread, without parsing it', () => {
    expect(classify(Buffer.alloc(5_000, '{'), 4096)).toMatchObject({ kind: 'invalid', unread: true, reason: 'body of 5000 bytes is over the 4096-byte limit (subscriber max_body_bytes)' });
  });
});
