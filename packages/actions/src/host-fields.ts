import { CmqError, type CmqErrorCode, FINGERPRINT_RE } from '@cmq/common';

/**
 * The rules of the fields an operator gives for a host reached over SSH (a node or a guest), in
 * one place: `cmq nodes add|set`, `cmq guests add` and the console's forms check the same ones.
 * Messages never repeat the value given (a key pasted into the wrong field stays out of errors,
 * pages and audit rows).
 */

/** An IPv4 or IPv6 address or a DNS name (SOURCE_CIDR decides later whether it may be reached). */
export const HOST_ADDRESS_RE = /^[A-Za-z0-9:][A-Za-z0-9.:_-]{0,252}$/;
/** A login name as useradd accepts it. */
export const HOST_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;
/** Longest start/stop/status command kept. */
export const MAX_COMMAND_LENGTH = 4096;
/** The opening line of a PEM or OpenSSH private key file. */
export const PRIVATE_KEY_RE = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** `value` quoted when it is short, printable and has no space; else its length only (never a pasted key). */
export function quotedValue(value: string): string {
  return /^[\x21-\x7e]{1,63}$/.test(value) ? `"${value}"` : `(${value.length} characters)`;
}

/** What an operator may give for a host's SSH connection; absent fields are not checked. */
export interface HostFieldValues {
  address?: string;
  port?: number;
  user?: string;
  hostKey?: string;
}

/** Problems with a host's connection fields, by field name (`address`, `port`, `user`, `hostKey`). */
export function hostFieldProblems(v: HostFieldValues): Record<string, string> {
  const out: Record<string, string> = {};
  if (v.address !== undefined && !HOST_ADDRESS_RE.test(v.address))
    out.address = 'address: an IPv4 or IPv6 address or a host name (letters, digits, . : _ -), at most 253 characters';
  if (v.port !== undefined && !(Number.isInteger(v.port) && v.port >= 1 && v.port <= 65535))
    out.port = 'port: an integer from 1 to 65535';
  if (v.user !== undefined && !HOST_USER_RE.test(v.user))
    out.user = 'user: a login name of 1-32 letters, digits, _ . and -, not starting with . or -';
  if (v.hostKey !== undefined && !FINGERPRINT_RE.test(v.hostKey))
    out.hostKey = 'host key: not a SHA256:... fingerprint as ssh-keygen -l prints it (SHA256: and 43 characters)';
  return out;
}

/** Why `command` (a node's start/stop/status command, named `label`) cannot be stored, if it cannot. */
export function commandProblem(label: string, command: string): string | undefined {
  if (command.trim() === '') return `${label}: give a shell command`;
  if (command.length > MAX_COMMAND_LENGTH) return `${label}: at most ${MAX_COMMAND_LENGTH} characters`;
  if (command.includes('\0')) return `${label}: a NUL character cannot be sent as a command`;
  return undefined;
}

/** Why `key` is not a private key file's text, if it is not (the key itself is never quoted). */
export function privateKeyProblem(key: string | Buffer): string | undefined {
  const text = typeof key === 'string' ? key : key.toString('utf8');
  return PRIVATE_KEY_RE.test(text) ? undefined : 'not a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)';
}

/**
 * A host refused because of one of its fields (`tenant`, `id`, `name`, `port`...): a form puts the
 * message beside that field from `field`, never by reading the text.
 */
export class HostFieldError extends CmqError {
  constructor(
    code: CmqErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** Throws the first of `problems` as a HostFieldError with `code`; nothing when there are none. */
export function throwFirstProblem(code: CmqErrorCode, problems: Record<string, string>): void {
  const first = Object.entries(problems)[0];
  if (first !== undefined) throw new HostFieldError(code, first[0], first[1]);
}
