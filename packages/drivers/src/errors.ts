import { CmqError, type CmqErrorCode } from '@cmq/common';

/**
 * What a caller should do about a failed provider call:
 * - `transient`: retry with backoff (a 5xx, a network failure, a timeout);
 * - `throttled`: the provider's rate limit; slow the account's bucket down and retry later
 *   without using one of the action's attempts;
 * - `permanent`: retrying cannot help (bad image id, bad parameter, no permission).
 */
export type DriverErrorKind = 'transient' | 'throttled' | 'permanent';

export const DRIVER_ERROR_CODES: Readonly<Record<DriverErrorKind, CmqErrorCode>> = {
  transient: 'CMQ_ERR_DRIVER_TRANSIENT',
  throttled: 'CMQ_ERR_DRIVER_THROTTLED',
  permanent: 'CMQ_ERR_DRIVER_PERMANENT',
};

/** What is known about a failed call, without the provider's raw error object. */
export interface DriverErrorDetails {
  kind: DriverErrorKind;
  /** `ec2`, `local`, ... */
  provider: string;
  /** The provider operation, e.g. `RunInstances`. */
  operation: string;
  /** The provider's own error code, e.g. `InvalidAMIID.NotFound`; absent for network failures. */
  providerCode?: string;
  /** The provider's message (or the network error's), already cleaned of secrets. */
  providerMessage: string;
  httpStatus?: number;
  requestId?: string;
}

/**
 * A failed provider call. `transient` is true for the `transient` and `throttled` kinds, so the
 * executor's generic retry decision works unchanged; `kind` says which. The message keeps the
 * provider's code and text (`ec2 RunInstances: InvalidAMIID.NotFound: The image id '[ami-x]' does
 * not exist`). The provider's raw error is deliberately not kept as `cause`: SDK errors carry
 * request and response metadata, and a credential must never ride along into a log line.
 */
export class DriverError extends CmqError {
  readonly kind: DriverErrorKind;
  readonly provider: string;
  readonly operation: string;
  readonly providerCode: string | undefined;
  readonly providerMessage: string;
  readonly httpStatus: number | undefined;
  readonly requestId: string | undefined;

  constructor(details: DriverErrorDetails) {
    const what =
      details.providerCode === undefined
        ? details.providerMessage
        : `${details.providerCode}: ${details.providerMessage}`;
    super(DRIVER_ERROR_CODES[details.kind], `${details.provider} ${details.operation}: ${what}`, {
      transient: details.kind !== 'permanent',
    });
    this.kind = details.kind;
    this.provider = details.provider;
    this.operation = details.operation;
    this.providerCode = details.providerCode;
    this.providerMessage = details.providerMessage;
    this.httpStatus = details.httpStatus;
    this.requestId = details.requestId;
  }

  get throttled(): boolean {
    return this.kind === 'throttled';
  }
}

/** True for a DriverError of the `throttled` kind. */
export function isThrottled(err: unknown): err is DriverError {
  return err instanceof DriverError && err.kind === 'throttled';
}

/**
 * Replaces every occurrence of each secret (length ≥ 4) in `text` with `[redacted]`. Providers
 * sometimes echo an access key id in an error message (signature mismatches do).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    out = out.split(secret).join('[redacted]');
  }
  return out;
}
