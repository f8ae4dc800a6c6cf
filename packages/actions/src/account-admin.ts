import { CmqError, type Sql } from '@cmq/common';
import { type Provider, checkCredentials } from './accounts';
import { isRowId } from './ids';

/** What a rotation changed: the account's tenant and provider, and the key its credentials are now under. */
export interface RotatedAccount {
  id: string;
  tenant_id: string;
  provider: Provider;
  /** The keyring key id of the new ciphertext (km.active_key_id). */
  key_id: string;
  rotated_at: Date;
}

/**
 * Replaces an account's credentials: `text` (the provider's credentials JSON) is checked for the
 * account's provider as `accounts add` checks it, encrypted by `encrypt` (the keyring, under its
 * active key) and stored in place. The account keeps its id, tenant, resources, servers and
 * schedule; `updated_at` records when. Nothing is cached from the old credentials: every action
 * decrypts its account's anew, so the next one uses these. Returns undefined for no such account.
 * @throws CmqError CMQ_ERR_ACCOUNT for credentials of the wrong shape (fields named, never values).
 */
export async function rotateAccount(
  sql: Sql,
  id: string,
  text: string,
  encrypt: (plain: string) => string,
): Promise<RotatedAccount | undefined> {
  if (!isRowId(id)) return undefined;
  const { rows: found } = await sql.query<{ provider: Provider }>('SELECT provider FROM accounts WHERE id = $1', [id]);
  const provider = found[0]?.provider;
  if (provider === undefined) return undefined;
  const ciphertext = encrypt(checkCredentials(provider, text));
  // The provider is part of the match: credentials checked for one provider never land on another's row.
  const { rows } = await sql.query<RotatedAccount>(
    `UPDATE accounts SET credentials = $2, updated_at = now() WHERE id = $1 AND provider = $3
     RETURNING id::text, tenant_id, provider, split_part(credentials, ':', 2) AS key_id, updated_at AS rotated_at`,
    [id, ciphertext, provider],
  );
  if (rows[0] === undefined)
    throw new CmqError('CMQ_ERR_ACCOUNT', `account ${id} was removed or changed while rotating: nothing stored`);
  return rows[0];
}

/** What removing an account takes with it and leaves behind, said before it is confirmed. */
export interface AccountRemovalImpact {
  /** Rows of its last-seen resources (and their change history) that go. */
  resources: number;
  /** Servers the platform launched in it and follows; their records go, the servers do not. */
  servers: number;
  /** Of those, not terminated: they go on running at the provider, no longer followed. */
  liveServers: number;
  /** Waiting actions (pending, queued, retrying) naming it: they fail when claimed. */
  waiting: number;
  /** Autoscaling policies launching with it: while any, the account cannot be removed. */
  policies: string[];
}

/** What {@link AccountRemovalImpact} says of account `id` (zeros for none). */
export async function accountRemovalImpact(sql: Sql, id: string): Promise<AccountRemovalImpact> {
  if (!isRowId(id)) return { resources: 0, servers: 0, liveServers: 0, waiting: 0, policies: [] };
  const { rows } = await sql.query<Omit<AccountRemovalImpact, 'policies'> & { policies: string[] | null }>(
    `SELECT (SELECT count(*)::int FROM resources WHERE account_id = $1::bigint) AS resources,
            (SELECT count(*)::int FROM servers WHERE account_id = $1::bigint) AS servers,
            (SELECT count(*)::int FROM servers WHERE account_id = $1::bigint
               AND state NOT IN ('terminated', 'gone')) AS "liveServers",
            (SELECT count(*)::int FROM actions WHERE state IN ('pending', 'queued', 'retrying')
               AND tenant_id = (SELECT tenant_id FROM accounts WHERE id = $1::bigint)
               AND args ->> 'account' = $2::text) AS waiting,
            (SELECT array_agg(name ORDER BY name) FROM policies WHERE account_id = $1::bigint) AS policies`,
    [id, id],
  );
  const r = rows[0];
  return {
    resources: r?.resources ?? 0,
    servers: r?.servers ?? 0,
    liveServers: r?.liveServers ?? 0,
    waiting: r?.waiting ?? 0,
    policies: r?.policies ?? [],
  };
}

/** Which key an account's credentials are under and when they last changed (added or rotated). */
export async function accountCredentialsAge(
  sql: Sql,
  id: string,
): Promise<{ key_id: string; changed_at: Date } | undefined> {
  if (!isRowId(id)) return undefined;
  const { rows } = await sql.query<{ key_id: string; changed_at: Date }>(
    `SELECT split_part(credentials, ':', 2) AS key_id, updated_at AS changed_at FROM accounts WHERE id = $1`,
    [id],
  );
  return rows[0];
}
