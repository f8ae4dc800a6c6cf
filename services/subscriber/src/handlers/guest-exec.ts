import { type GuestSecret, getGuestSecret, recordGuestHostKey } from '@cmq/actions';
import { CmqError, SshError, type SshExecResult } from '@cmq/common';
import type { Handler, HandlerContext, SshServices } from './handler';

interface GuestExecArgs {
  guest: string;
  command: string;
  timeout?: number;
  env?: Record<string, string>;
}

function services(ctx: HandlerContext): SshServices {
  if (ctx.ssh === undefined) throw new CmqError('CMQ_ERR_SSH_UNAVAILABLE', 'this subscriber has no SSH services');
  return ctx.ssh;
}

async function loadGuest(ssh: SshServices, tenant: string, id: string): Promise<GuestSecret> {
  const guest = await getGuestSecret(ssh.sql, tenant, id);
  if (guest === undefined) throw new CmqError('CMQ_ERR_GUEST_UNKNOWN', `tenant "${tenant}" has no guest "${id}" (cmq guests list --tenant ${tenant})`);
  return guest;
}

/** Logs a host-key refusal as a security event in the tenant's log: fingerprints only, never a key. */
function logSecurity(ctx: HandlerContext, guest: GuestSecret, err: SshError): void {
  ctx.logger.warn({ security: true, event: 'ssh_host_key', code: err.code, guest: guest.id, address: `${guest.address}:${guest.port}`, expected: err.hostKey?.expected ?? null, seen: err.hostKey?.seen ?? null }, 'security: SSH host key refused');
}

/** Records a first-use fingerprint; a different one recorded meanwhile is a mismatch. */
async function recordFirstUse(ctx: HandlerContext, ssh: SshServices, guest: GuestSecret, result: SshExecResult): Promise<void> {
  if (!result.hostKey.firstUse) return;
  const { fingerprint } = result.hostKey;
  if (await recordGuestHostKey(ssh.sql, ctx.tenant, guest.id, fingerprint)) {
    ctx.logger.info({ guest: guest.id, fingerprint }, 'SSH host key recorded on first contact');
    return;
  }
  const now = await loadGuest(ssh, ctx.tenant, guest.id);
  if (now.host_key_fingerprint !== fingerprint) {
    const err = new SshError('CMQ_ERR_SSH_HOSTKEY_MISMATCH', `host key of guest ${guest.id} changed during first contact: ${fingerprint} seen, ${now.host_key_fingerprint ?? 'none'} recorded`, { security: true, hostKey: { expected: now.host_key_fingerprint ?? undefined, seen: fingerprint } });
    logSecurity(ctx, guest, err);
    throw err;
  }
}

/**
 * `guest.exec`: runs `command` on the tenant's guest over SSH. Exit 0 → succeeded; non-zero or
 * killed at `timeout` → failed, with the result kept. A refused host key is permanent (dead) and
 * logged as a security event; a first contact with a platform-launched guest records its key.
 */
export const guestExec: Handler = async (ctx) => {
  const args = ctx.args as unknown as GuestExecArgs;
  const ssh = services(ctx);
  const guest = await loadGuest(ssh, ctx.tenant, args.guest);
  const privateKey = ssh.keyring().decrypt(guest.private_key);
  let result: SshExecResult;
  try {
    result = await ssh.client.exec(
      { host: guest.address, port: guest.port, username: guest.user, privateKey, hostKey: { pinned: guest.host_key_fingerprint, trustOnFirstUse: guest.trust_on_first_use, strict: ssh.strictHostKeys } },
      args.command,
      { timeoutMs: args.timeout === undefined ? undefined : args.timeout * 1000, env: args.env, signal: ctx.signal },
    );
  } catch (err) {
    if (err instanceof SshError && err.security) logSecurity(ctx, guest, err);
    throw err;
  } finally {
    privateKey.fill(0);
  }
  await recordFirstUse(ctx, ssh, guest, result);
  const out = { code: result.code, stdout: result.stdout, stderr: result.stderr, truncated: result.truncated };
  if (result.timedOut) return { status: 'failed', result: out, error: `command timed out after ${args.timeout ?? 'ssh.command_timeout'}${args.timeout === undefined ? '' : ' s'} and was killed` };
  if (result.code !== 0) return { status: 'failed', result: out, error: `command exited ${result.code ?? `on signal ${result.signal ?? '?'}`}` };
  return { status: 'succeeded', result: out };
};
