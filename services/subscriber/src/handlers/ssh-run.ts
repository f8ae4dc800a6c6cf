import { type GuestSecret, type NodeSecret, getGuestSecret, recordGuestHostKey, secretMasker } from '@cmq/actions';
import { CmqError, SshError, type SshExecOptions, type SshExecResult, type SshOutputListener } from '@cmq/common';
import type { HandlerContext, SshServices } from './handler';

export function sshServices(ctx: HandlerContext): SshServices {
  if (ctx.ssh === undefined) throw new CmqError('CMQ_ERR_SSH_UNAVAILABLE', 'this subscriber has no SSH services');
  return ctx.ssh;
}

export async function loadGuest(ssh: SshServices, tenant: string, id: string): Promise<GuestSecret> {
  const guest = await getGuestSecret(ssh.sql, tenant, id);
  if (guest === undefined)
    throw new CmqError(
      'CMQ_ERR_GUEST_UNKNOWN',
      `tenant "${tenant}" has no guest "${id}" (cmq guests list --tenant ${tenant})`,
    );
  if (!guest.active)
    throw new CmqError(
      'CMQ_ERR_GUEST_INACTIVE',
      `guest "${id}" of tenant "${tenant}" is inactive: nothing was run (cmq guests activate ${id} --tenant ${tenant})`,
    );
  return guest;
}

/** Logs a host-key refusal as a security event in the tenant's log: fingerprints only, never a key. */
function logSecurity(
  ctx: HandlerContext,
  host: { kind: 'guest' | 'node'; id: string; address: string; port: number },
  err: SshError,
): void {
  ctx.logger.warn(
    {
      security: true,
      event: 'ssh_host_key',
      code: err.code,
      [host.kind]: host.id,
      address: `${host.address}:${host.port}`,
      expected: err.hostKey?.expected ?? null,
      seen: err.hostKey?.seen ?? null,
    },
    'security: SSH host key refused',
  );
}

/** Records a first-use fingerprint; a different one recorded meanwhile is a mismatch. */
async function recordFirstUse(
  ctx: HandlerContext,
  ssh: SshServices,
  guest: GuestSecret,
  result: SshExecResult,
): Promise<void> {
  if (!result.hostKey.firstUse) return;
  const { fingerprint } = result.hostKey;
  if (await recordGuestHostKey(ssh.sql, ctx.tenant, guest.id, fingerprint)) {
    ctx.logger.info({ guest: guest.id, fingerprint }, 'SSH host key recorded on first contact');
    return;
  }
  const now = await loadGuest(ssh, ctx.tenant, guest.id);
  if (now.host_key_fingerprint !== fingerprint) {
    const err = new SshError(
      'CMQ_ERR_SSH_HOSTKEY_MISMATCH',
      `host key of guest ${guest.id} changed during first contact: ${fingerprint} seen, ${now.host_key_fingerprint ?? 'none'} recorded`,
      { security: true, hostKey: { expected: now.host_key_fingerprint ?? undefined, seen: fingerprint } },
    );
    logSecurity(ctx, { kind: 'guest', ...guest }, err);
    throw err;
  }
}

type Host = (GuestSecret & { kind: 'guest' }) | (NodeSecret & { kind: 'node' });

export interface RunOptions extends Omit<SshExecOptions, 'signal' | 'output'> {
  /** Stream stdout/stderr line by line to the tenant log (ctx.logger) as they arrive. */
  logOutput?: boolean;
}

const COMMAND_LOGGED = 1000;

/**
 * The tenant-log side of a command: its start (the command, env names only), each output line
 * with its stream and host (the action id is in ctx.logger's bindings), one line when the output
 * reached ssh.output_cap, and its end. Env values may be secrets: never logged, and masked where
 * a line or the command shows one.
 */
function outputLog(
  ctx: HandlerContext,
  where: Record<string, string>,
  env: Readonly<Record<string, string>>,
): { listener: SshOutputListener; mask: (text: string) => string } {
  const mask = secretMasker(Object.values(env));
  const listener: SshOutputListener = {
    line: (stream, text) => ctx.logger.info({ ...where, stream, line: mask(text) }, 'ssh output'),
    truncated: (stream) =>
      ctx.logger.warn(
        { ...where, stream },
        'output truncated at ssh.output_cap: later output of this stream is not logged (nor kept in the result)',
      ),
  };
  return { listener, mask };
}

async function execOn(
  ctx: HandlerContext,
  ssh: SshServices,
  host: Host,
  command: string,
  opts: RunOptions,
): Promise<SshExecResult> {
  const id = host.kind === 'guest' ? host.id : host.name;
  const where = { [host.kind]: id, host: `${host.user}@${host.address}:${host.port}` };
  const { logOutput = false, ...execOpts } = opts;
  const log = logOutput ? outputLog(ctx, where, opts.env ?? {}) : undefined;
  if (log !== undefined)
    ctx.logger.info(
      { ...where, command: log.mask(command).slice(0, COMMAND_LOGGED), env: Object.keys(opts.env ?? {}) },
      'ssh command started',
    );
  const privateKey = ssh.keyring().decrypt(host.private_key);
  const trustOnFirstUse = host.kind === 'guest' && host.trust_on_first_use;
  try {
    const result = await ssh.client.exec(
      {
        host: host.address,
        port: host.port,
        username: host.user,
        privateKey,
        hostKey: { pinned: host.host_key_fingerprint, trustOnFirstUse, strict: ssh.strictHostKeys },
      },
      command,
      { ...execOpts, signal: ctx.signal, output: log?.listener },
    );
    if (log !== undefined)
      ctx.logger.info(
        { ...where, code: result.code, signal: result.signal, timedOut: result.timedOut, truncated: result.truncated },
        'ssh command ended',
      );
    return result;
  } catch (err) {
    if (err instanceof SshError && err.security)
      logSecurity(ctx, { kind: host.kind, id, address: host.address, port: host.port }, err);
    throw err;
  } finally {
    privateKey.fill(0);
  }
}

/**
 * Runs `command` on the tenant's guest: the key is decrypted only for the connection, a refused
 * host key is logged as a security event (and thrown, permanent), a first contact with a
 * platform-launched guest records its key.
 */
export async function runOnGuest(
  ctx: HandlerContext,
  guestId: string,
  command: string,
  opts: RunOptions = {},
): Promise<SshExecResult> {
  const ssh = sshServices(ctx);
  const guest = await loadGuest(ssh, ctx.tenant, guestId);
  const result = await execOn(ctx, ssh, { kind: 'guest', ...guest }, command, opts);
  await recordFirstUse(ctx, ssh, guest, result);
  return result;
}

/** Runs `command` on a registered node (its host key must be pinned, or strict refusal applies). */
export function runOnNode(
  ctx: HandlerContext,
  node: NodeSecret,
  command: string,
  opts: RunOptions = {},
): Promise<SshExecResult> {
  return execOn(ctx, sshServices(ctx), { kind: 'node', ...node }, command, opts);
}
