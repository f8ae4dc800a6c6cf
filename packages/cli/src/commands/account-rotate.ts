import { type RotatedAccount, getAccountSecret, rotateAccount } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { CommandFailed, Exit, failure } from '../command-error';
import { type Env } from '../config-set';
import { withConfigDir } from '../options';
import { auditAccount, generatedLocalCredentials, readCredentials } from './account-input';
import { loadKeyring } from './guests';

interface RotateOpts {
  configDir?: string;
  credentialsFile?: string;
}

/**
 * `cmq accounts rotate ID`: the account's new credentials (the file `accounts add` takes; a local
 * account without one: a new key pair), checked for its provider, encrypted under
 * km.active_key_id, stored in place (same id, same resources), audited as `account.rotate`.
 */
async function rotate(id: string, opts: RotateOpts, env: Env): Promise<void> {
  const keyring = loadKeyring(opts.configDir, env);
  const done = await withDatabase(opts.configDir, env, async ({ sql }) => {
    const account = await getAccountSecret(sql, id);
    if (account === undefined) throw failure(`no account ${id} (cmq accounts list)`);
    const { provider, tenant_id: tenant } = account;
    let text: string;
    if (opts.credentialsFile !== undefined) text = readCredentials(opts.credentialsFile, provider);
    else if (provider === 'local') text = generatedLocalCredentials(tenant);
    else
      throw new CommandFailed(
        `--credentials-file is required to rotate account ${id} (provider ${provider})`,
        Exit.REFUSED,
      );
    let rotated: RotatedAccount | undefined;
    try {
      rotated = await rotateAccount(sql, id, text, (plain) => keyring.encrypt(plain));
    } catch (err) {
      if (err instanceof CmqError && err.code === 'CMQ_ERR_ACCOUNT') throw failure(err.message);
      throw err;
    }
    if (rotated === undefined) throw failure(`no account ${id} (cmq accounts list)`);
    await auditAccount(sql, env, 'account.rotate', id, tenant, {
      provider,
      key_id: rotated.key_id,
      generated: opts.credentialsFile === undefined,
    });
    return rotated;
  });
  process.stdout.write(
    `rotated the credentials of account ${id} (${done.provider} of tenant ${done.tenant_id}) under key ${done.key_id}; its next action uses them\n`,
  );
}

export function registerRotate(accounts: Command, env: Env): void {
  withConfigDir(
    accounts
      .command('rotate')
      .argument('<id>', 'account id')
      .description(
        "replace an account's credentials (checked as add checks them, encrypted with km.active_key_id); the account keeps its id and resources",
      ),
  )
    .option(
      '--credentials-file <file>',
      'JSON as for accounts add (required but for local accounts, which get a new ed25519 pair without one)',
    )
    .action((id: string, opts: RotateOpts) => rotate(id, opts, env));
}
