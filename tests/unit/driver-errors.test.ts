import { CmqError } from '@cmq/common';
import { DriverError, classifyEc2Error, isThrottled, mapEc2Error, redactSecrets } from '@cmq/drivers';

/** An error shaped like the SDK v3's ServiceException for an EC2 Query API error document. */
function serviceError(
  code: string,
  message: string,
  status: number,
  fault: 'client' | 'server' = status >= 500 ? 'server' : 'client',
): Error {
  const err = new Error(message) as Error & Record<string, unknown>;
  err.name = code;
  err.$fault = fault;
  err.$metadata = { httpStatusCode: status, requestId: 'req-1', attempts: 1 };
  return err;
}

function networkError(code: string): Error {
  const err = new Error(`connect ${code} 127.0.0.1:1`) as Error & { code: string };
  err.code = code;
  return err;
}

describe('EC2 error mapping', () => {
  it.each([
    ['RequestLimitExceeded', 503, 'throttled'],
    ['Throttling', 400, 'throttled'],
    ['SomethingNew', 429, 'throttled'],
    ['InternalError', 500, 'transient'],
    ['Unavailable', 503, 'transient'],
    ['InsufficientInstanceCapacity', 400, 'transient'],
    ['InvalidAMIID.NotFound', 400, 'permanent'],
    ['InvalidAMIID.Malformed', 400, 'permanent'],
    ['InvalidParameterValue', 400, 'permanent'],
    ['UnauthorizedOperation', 403, 'permanent'],
    ['AuthFailure', 401, 'permanent'],
    ['IdempotentParameterMismatch', 400, 'permanent'],
  ] as const)('%s (HTTP %d) is %s', (code, status, kind) => {
    const err = mapEc2Error(serviceError(code, 'text', status), 'RunInstances', []);
    expect(err).toBeInstanceOf(DriverError);
    expect(err).toBeInstanceOf(CmqError);
    expect(err.kind).toBe(kind);
    expect(err.transient).toBe(kind !== 'permanent');
    expect(err.code).toBe(`CMQ_ERR_DRIVER_${kind.toUpperCase()}`);
    expect(err.providerCode).toBe(code);
    expect(err.httpStatus).toBe(status);
    expect(err.requestId).toBe('req-1');
    expect(isThrottled(err)).toBe(kind === 'throttled');
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'])('network failure %s is transient', (code) => {
    const err = mapEc2Error(networkError(code), 'DescribeInstances', []);
    expect(err.kind).toBe('transient');
    expect(err.providerCode).toBe(code);
    expect(err.httpStatus).toBeUndefined();
  });

  it('an SDK timeout or an unknown non-service failure is transient', () => {
    const timeout = new Error('Connection timed out after 5000 ms');
    timeout.name = 'TimeoutError';
    expect(mapEc2Error(timeout, 'DescribeInstances', []).kind).toBe('transient');
    expect(mapEc2Error('weird', 'DescribeInstances', []).kind).toBe('transient');
    expect(classifyEc2Error(undefined, undefined, undefined)).toBe('transient');
  });

  it("keeps the provider's code and message", () => {
    const err = mapEc2Error(
      serviceError('InvalidAMIID.NotFound', "The image id '[ami-x]' does not exist", 400),
      'RunInstances',
      [],
    );
    expect(err.message).toBe("ec2 RunInstances: InvalidAMIID.NotFound: The image id '[ami-x]' does not exist");
    expect(err.providerMessage).toBe("The image id '[ami-x]' does not exist");
    expect(err.operation).toBe('RunInstances');
    expect(err.provider).toBe('ec2');
  });

  it('removes secrets the provider echoed and keeps no raw error', () => {
    const raw = serviceError('AuthFailure', 'Credential AKIDSECRETID1234 / wJalrSECRETKEY is not valid', 401);
    const err = mapEc2Error(raw, 'DescribeInstances', ['AKIDSECRETID1234', 'wJalrSECRETKEY']);
    expect(err.message).toBe('ec2 DescribeInstances: AuthFailure: Credential [redacted] / [redacted] is not valid');
    expect(err.cause).toBeUndefined();
    const json = JSON.stringify(err);
    expect(json).not.toContain('AKIDSECRETID1234');
    expect(json).not.toContain('wJalrSECRETKEY');
  });

  it('passes a DriverError through unchanged; redaction ignores tiny strings', () => {
    const e = new DriverError({ kind: 'permanent', provider: 'ec2', operation: 'X', providerMessage: 'm' });
    expect(mapEc2Error(e, 'Y', [])).toBe(e);
    expect(e.message).toBe('ec2 X: m');
    expect(redactSecrets('abc abc', ['', 'abc'])).toBe('abc abc');
  });
});
