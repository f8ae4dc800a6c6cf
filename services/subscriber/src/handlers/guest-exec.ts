import { hasSealedArgs, loadSecretArgs, secretMasker, unsealSecretArgs } from '@cmq/actions';
import type { Handler } from './handler';
import { runOnGuest, sshServices } from './ssh-run';

/**
 * `guest.exec`: runs `command` on the tenant's guest over SSH. Exit 0 → succeeded; non-zero or
 * killed at `timeout` → failed, with the result kept. A refused host key is permanent (dead) and
 * logged as a security event; a first contact with a platform-launched guest records its key.
 * `env` values are secret: stored encrypted (ctx.args holds "****"), decrypted here for the
 * command only, and masked in the stdout and stderr the result keeps.
 */
export const guestExec: Handler<'guest.exec'> = async (ctx) => {
  const ssh = sshServices(ctx);
  // Most runs have no env: no query for a ciphertext that cannot be there.
  const sealed = hasSealedArgs(ctx.type, ctx.args) ? await loadSecretArgs(ssh.sql, ctx.id) : null;
  const { args, secrets } = unsealSecretArgs(ctx.args, sealed, () => ssh.keyring());
  const result = await runOnGuest(ctx, args.guest, args.command, {
    timeoutMs: args.timeout === undefined ? undefined : args.timeout * 1000,
    env: args.env,
    logOutput: true,
  });
  const mask = secretMasker(secrets);
  const out = {
    code: result.code,
    stdout: mask(result.stdout),
    stderr: mask(result.stderr),
    truncated: result.truncated,
  };
  if (result.timedOut)
    return {
      status: 'failed',
      result: out,
      error: `command timed out after ${args.timeout ?? 'ssh.command_timeout'}${args.timeout === undefined ? '' : ' s'} and was killed`,
    };
  if (result.code !== 0)
    return {
      status: 'failed',
      result: out,
      error: `command exited ${result.code ?? `on signal ${result.signal ?? '?'}`}`,
    };
  return { status: 'succeeded', result: out };
};
