import { DriverError, type DriverErrorKind } from '../errors';

/** The provider code for an id the local cloud does not know (the same as EC2's, so callers need one check). */
export const LOCAL_NOT_FOUND = 'InvalidInstanceID.NotFound';

/** A DriverError of provider `local`. Messages name paths and commands, never key material. */
export function localError(
  kind: DriverErrorKind,
  operation: string,
  message: string,
  providerCode?: string,
): DriverError {
  return new DriverError({
    kind,
    provider: 'local',
    operation,
    providerMessage: message,
    ...(providerCode === undefined ? {} : { providerCode }),
  });
}

/** The errno code of a Node error (`ENOENT`, ...), or `error`. */
export function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'error';
}

/**
 * Wraps a file system failure: what was being done to which path, and the errno code. Out of
 * space and similar conditions may pass (transient); permissions and bad paths do not.
 */
export function fsError(operation: string, what: string, path: string, err: unknown): DriverError {
  if (err instanceof DriverError) return err;
  const code = errnoCode(err);
  const kind: DriverErrorKind = ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG'].includes(
    code,
  )
    ? 'permanent'
    : 'transient';
  return localError(kind, operation, `${what} ${path}: ${code}`);
}

/** Throws a transient DriverError when the call was aborted (the action's timeout, shutdown). */
export function checkAborted(operation: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw localError('transient', operation, 'aborted before it finished', 'AbortError');
}
