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

describe('classify: a request published without an id', () => {
  const now = new Date('2030-01-01T00:00:00.000Z');
  const direct = (fields: Record<string, unknown>): ReturnType<typeof classify> =>
    classify(body(JSON.stringify({ type: 'noop', tenant: 't1', ...fields })), 4096, now);

  it('keeps its scheduling, as cmq call does: countdown, eta, expires, priority, max_attempts, idempotency_key', () => {
    expect(direct({ countdown: 90, expires: '2030-01-01T01:00:00Z', priority: 7, max_attempts: 2 })).toMatchObject({
      kind: 'direct',
      request: {
        notBefore: new Date('2030-01-01T00:01:30.000Z'),
        expiresAt: new Date('2030-01-01T01:00:00.000Z'),
        priority: 7,
        maxAttempts: 2,
        idempotencyKey: null,
      },
    });
    expect(direct({ eta: '2030-06-01T12:00:00+02:00', idempotency_key: 'k-1' })).toMatchObject({
      kind: 'direct',
      request: { notBefore: new Date('2030-06-01T10:00:00.000Z'), idempotencyKey: 'k-1', priority: 0, maxAttempts: 5 },
    });
  });

  it('dead-letters a bad or unknown field by name', () => {
    const reasons = [
      { countdown: -1 },
      { eta: 'tomorrow' },
      { expires: 'never' },
      { priority: 1000 },
      { max_attempts: 0 },
      { count_down: 5 },
      { countdown: 5, eta: '2030-02-01T00:00:00Z' },
      { countdown: 60, expires: '2030-01-01T00:00:30Z' },
    ].map((f) => {
      const kind = direct(f);
      return kind.kind === 'invalid' ? kind.reason : kind.kind;
    });
    expect(reasons).toEqual([
      'countdown: Too small: expected number to be >=0',
      'eta: Invalid ISO datetime',
      'expires: Invalid ISO datetime',
      'priority: Too big: expected number to be <=100',
      'max_attempts: Too small: expected number to be >=1',
      '(request): unknown field(s) count_down',
      'countdown and eta: give one of them, not both',
      'expires: must be later than the countdown or eta',
    ]);
  });
});
