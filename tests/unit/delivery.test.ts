import { checkArgs, isRowId } from '@cmq/actions';
import { classify } from '@cmq/subscriber';

const body = (text: string): Buffer => Buffer.from(text);

describe('classify: what a subscriber makes of a message body', () => {
  it('names a bad id shortly, whatever its shape, and never throws on it', () => {
    const deep = `{"id":${'['.repeat(10_000)}${']'.repeat(10_000)},"tenant":"t1"}`;
    expect(classify(body(deep), 1 << 20)).toEqual({
      kind: 'invalid',
      reason: 'id: an array is not an action id',
      tenant: 't1',
    });
    expect(classify(body('{"id":{"a":1}}'), 4096)).toMatchObject({ reason: 'id: an object is not an action id' });
    expect(classify(body(`{"id":"${'9'.repeat(60)}"}`), 4096)).toMatchObject({
      reason: `id: "${'9'.repeat(40)}..." is not an action id`,
    });
    expect(classify(body('{"id":9007199254740993}'), 4096)).toMatchObject({
      reason: 'id: 9007199254740992 is not an action id',
    });
    expect(classify(body('{"id":"9223372036854775808"}'), 4096)).toMatchObject({
      reason: 'id: "9223372036854775808" is not an action id',
    });
  });

  it('takes a relay message by its id, string or safe number', () => {
    expect(classify(body('{"id":"9223372036854775807","tenant":"t1"}'), 4096)).toEqual({
      kind: 'action',
      id: '9223372036854775807',
      tenant: 't1',
    });
    expect(classify(body('{"id":42}'), 4096)).toEqual({ kind: 'action', id: '42', tenant: null });
  });

  it('marks an oversize body unread, without parsing it', () => {
    expect(classify(Buffer.alloc(5_000, '{'), 4096)).toMatchObject({
      kind: 'invalid',
      unread: true,
      reason: 'body of 5000 bytes is over the 4096-byte limit (subscriber max_body_bytes)',
    });
  });
});

describe('row ids past PostgreSQL bigint are refused where they come in', () => {
  it('an account argument of 19 digits over 2^63-1 fails the schema, naming the field', () => {
    expect(checkArgs('server.terminate', { account: '9223372036854775808', server: 'i-1' })).toMatchObject({
      ok: false,
      error: 'args.account: an account id of the tenant (cmq accounts list)',
    });
    expect(checkArgs('sync.servers', { account: '9223372036854775807' })).toMatchObject({ ok: true });
  });

  it('isRowId: 1 to 2^63-1, digits only', () => {
    expect(['1', '9223372036854775807'].every(isRowId)).toBe(true);
    expect(['0', '01', '-1', '1.5', '9223372036854775808', '99999999999999999999', ''].some(isRowId)).toBe(false);
  });
});
