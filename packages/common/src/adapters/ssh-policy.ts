import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIPv4 } from 'node:net';
import { CmqError, type CmqErrorCode } from '../errors';

/** An SSH failure; `security` marks a host-key event that must reach the tenant log as one. */
export class SshError extends CmqError {
  readonly security: boolean;
  /** For a host-key mismatch: what was pinned and what the server showed (fingerprints, never keys). */
  readonly hostKey: { expected?: string; seen?: string } | undefined;

  constructor(
    code: CmqErrorCode,
    message: string,
    options: {
      cause?: unknown;
      transient?: boolean;
      security?: boolean;
      hostKey?: { expected?: string; seen?: string };
    } = {},
  ) {
    super(code, message, options);
    this.security = options.security ?? false;
    this.hostKey = options.hostKey;
  }
}

/** `SHA256:<base64 without padding>` of a host key blob, as `ssh-keygen -l` prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The networks of `SOURCE_CIDR` (IPv4 `a.b.c.d/n`, as the config format checks). */
function allowedNetworks(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net as string, Number(bits), 'ipv4');
  }
  return list;
}

/**
 * The IPv4 address to connect to for `host` (a name is resolved first), which must lie inside
 * one of `SOURCE_CIDR`'s networks. Nothing is sent to the target before this returns.
 * @throws SshError CMQ_ERR_SSH_SOURCE_CIDR (permanent) when outside; CMQ_ERR_SSH_RESOLVE (transient).
 */
export async function allowedAddress(host: string, cidrs: readonly string[]): Promise<string> {
  let addresses: string[];
  if (isIPv4(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, family: 4 })).map((a) => a.address);
    } catch (err) {
      throw new SshError(
        'CMQ_ERR_SSH_RESOLVE',
        `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        { transient: true },
      );
    }
  }
  const networks = allowedNetworks(cidrs);
  const inside = addresses.find((a) => networks.check(a, 'ipv4'));
  if (inside === undefined) {
    const shown = addresses.join(', ') === host ? host : `${host} (${addresses.join(', ')})`;
    throw new SshError(
      'CMQ_ERR_SSH_SOURCE_CIDR',
      `SSH target ${shown} is outside the allowed networks SOURCE_CIDR=${cidrs.join(',')} (provisioning.cfg): refused, nothing sent`,
    );
  }
  return inside;
}

/** How a host key is checked: a pinned fingerprint, or trust on first use when allowed. */
export interface HostKeyPolicy {
  /** The recorded fingerprint (`SHA256:...`); only it is accepted. */
  pinned?: string | null;
  /** With no pinned key: accept the first one seen (guests the platform launched). */
  trustOnFirstUse: boolean;
  /** `ssh.strict_host_keys`: never accept an unpinned key. */
  strict: boolean;
}

export type HostKeyVerdict = { ok: true; fingerprint: string; firstUse: boolean } | { ok: false; error: SshError };

/** Decides on a host key seen during key exchange, before any authentication. */
export function judgeHostKey(target: string, seen: string, policy: HostKeyPolicy): HostKeyVerdict {
  const pinned = policy.pinned ?? undefined;
  if (pinned !== undefined && pinned !== '') {
    if (seen === pinned) return { ok: true, fingerprint: seen, firstUse: false };
    const error = new SshError(
      'CMQ_ERR_SSH_HOSTKEY_MISMATCH',
      `host key of ${target} is ${seen}, not the pinned ${pinned}: refused before authentication, no command sent (possible man-in-the-middle, or the host was rebuilt)`,
      {
        security: true,
        hostKey: { expected: pinned, seen },
      },
    );
    return { ok: false, error };
  }
  if (policy.strict) {
    return {
      ok: false,
      error: new SshError(
        'CMQ_ERR_SSH_HOSTKEY_UNKNOWN',
        `host key of ${target} (${seen}) is not known and ssh.strict_host_keys=true (provisioning.cfg): refused`,
        { security: true, hostKey: { seen } },
      ),
    };
  }
  if (!policy.trustOnFirstUse) {
    return {
      ok: false,
      error: new SshError(
        'CMQ_ERR_SSH_HOSTKEY_UNKNOWN',
        `host key of ${target} (${seen}) is not pinned and the target was not launched by the platform (no trust on first use): pin it with --host-key`,
        { security: true, hostKey: { seen } },
      ),
    };
  }
  return { ok: true, fingerprint: seen, firstUse: true };
}
