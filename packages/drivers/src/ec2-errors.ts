import { DriverError, type DriverErrorKind, redactSecrets } from './errors';

/** EC2 (and AWS-wide) codes that mean "slow down". */
const THROTTLING_CODES = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'SlowDown',
  'PriorRequestNotComplete',
]);

/** Client-side codes that are worth retrying later (capacity comes back, services recover). */
const TRANSIENT_CODES = new Set([
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'RequestTimeout',
  'RequestTimeoutException',
  'RequestExpired',
]);

/** Node and SDK failures before any answer: the request may not have reached EC2. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
const NETWORK_NAMES = new Set(['TimeoutError', 'AbortError', 'RequestTimeout']);

/** The parts of an SDK v3 error (or a Node network error) the mapping reads. */
interface ErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Decides the kind from the provider code, the HTTP status and the SDK's fault side. */
export function classifyEc2Error(
  code: string | undefined,
  httpStatus: number | undefined,
  fault: string | undefined,
): DriverErrorKind {
  if (code !== undefined && THROTTLING_CODES.has(code)) return 'throttled';
  if (httpStatus === 429) return 'throttled';
  if (code !== undefined && TRANSIENT_CODES.has(code)) return 'transient';
  if (httpStatus !== undefined && httpStatus >= 500) return 'transient';
  if (httpStatus !== undefined && httpStatus >= 400) return 'permanent';
  if (fault === 'client') return 'permanent';
  // No answer at all (network, timeout, unparsable body): the call may be retried.
  return 'transient';
}

/**
 * Turns whatever the EC2 client threw into a DriverError, keeping the provider's code and message
 * and removing every secret in `secrets` from the message. Never keeps the raw error.
 */
export function mapEc2Error(err: unknown, operation: string, secrets: readonly string[]): DriverError {
  if (err instanceof DriverError) return err;
  const e: ErrorShape = typeof err === 'object' && err !== null ? err : {};
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const requestId = str(e.$metadata?.requestId);
  const fault = str(e.$fault);
  const nodeCode = str(e.code);
  const name = str(e.name);
  const isServiceError = fault !== undefined || status !== undefined;
  let providerCode: string | undefined;
  if (isServiceError) providerCode = name;
  else if (nodeCode !== undefined && NETWORK_CODES.has(nodeCode)) providerCode = nodeCode;
  else if (name !== undefined && NETWORK_NAMES.has(name)) providerCode = name;
  const kind = classifyEc2Error(isServiceError ? providerCode : undefined, status, fault);
  const rawMessage = str(e.message) ?? (typeof err === 'string' ? err : 'unknown error');
  const providerMessage = redactSecrets(rawMessage.replace(/\s+/g, ' ').trim(), secrets);
  return new DriverError({
    kind,
    provider: 'ec2',
    operation,
    providerCode,
    providerMessage,
    httpStatus: status,
    requestId,
  });
}
