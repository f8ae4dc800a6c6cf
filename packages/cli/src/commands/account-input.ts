import { readFileSync } from 'node:fs';
import { type Provider, checkCredentials, generateLocalCredentials, recordAudit } from '@cmq/actions';
import { CmqError, type Sql } from '@cmq/common';
import { cliActor } from '../cli-db';
import { CommandFailed, Exit, failure } from '../command-error';
import { type Env } from '../config-set';

/** The credentials file's text checked for `provider` (exit 1 unreadable, 2 of the wrong shape). */
export function readCredentials(path: string, provider: Provider): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw failure(`cannot read --credentials-file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return checkCredentials(provider, text);
  } catch (err) {
    if (err instanceof CmqError) throw new CommandFailed(`--credentials-file ${path}: ${err.message}`, Exit.REFUSED);
    throw err;
  }
}

/** A new key pair from ssh-keygen as local credentials (CMQ_ERR_ACCOUNT when it cannot: exit 1). */
export function generatedLocalCredentials(tenant: string): string {
  try {
    return generateLocalCredentials(tenant);
  } catch (err) {
    if (err instanceof CmqError) throw failure(`${err.message} (--credentials-file)`);
    throw err;
  }
}

/** THE audit call site of `cmq accounts`: who (cli:user@host), what, which account; never a credential. */
export async function auditAccount(
  sql: Sql,
  env: Env,
  action: 'account.add' | 'account.rotate' | 'account.remove',
  id: string,
  tenant: string,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await recordAudit(sql, { actor: cliActor(env), action, target: `account ${id}`, outcome: 'ok', tenant, detail });
}
