import { CmqError, type Sql } from '@cmq/common';
import { z } from 'zod';
import { isRowId } from './ids';

export const PROVIDERS = ['local', 'ec2', 'cobbler', 'ipmi'] as const;
export type Provider = (typeof PROVIDERS)[number];
/** Providers of cloud servers (server.*, the scheduled sync.*); cobbler and ipmi are bare metal (metal.*, ipmi.*). */
export const CLOUD_PROVIDERS = ['local', 'ec2'] as const;
export type CloudProvider = (typeof CLOUD_PROVIDERS)[number];

export function isCloudProvider(provider: Provider): provider is CloudProvider {
  return (CLOUD_PROVIDERS as readonly string[]).includes(provider);
}

const OPENSSH_PRIVATE_RE =
  /^-----BEGIN OPENSSH PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END OPENSSH PRIVATE KEY-----\s*$/;
const PUBLIC_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+/]+={0,3})(?: [^\r\n]*)?$/;

/**
 * The public key blob inside an OpenSSH private key file (stored in clear even when the private
 * part is encrypted), and whether the private part is encrypted; undefined when it is not one.
 */
export function opensshKeyInfo(privateKey: string): { publicBlob: Buffer; encrypted: boolean } | undefined {
  const body = OPENSSH_PRIVATE_RE.exec(privateKey)?.[1];
  if (body === undefined) return undefined;
  const buf = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (buf.toString('latin1', 0, magic.length) !== magic) return undefined;
  let at = magic.length;
  const field = (): Buffer | undefined => {
    if (at + 4 > buf.length) return undefined;
    const len = buf.readUInt32BE(at);
    if (at + 4 + len > buf.length) return undefined;
    at += 4 + len;
    return buf.subarray(at - len, at);
  };
  const cipher = field()?.toString('latin1');
  if (cipher === undefined || field() === undefined || field() === undefined || at + 4 > buf.length) return undefined;
  at += 4; // number of keys: one, as ssh-keygen writes
  const publicBlob = field();
  return publicBlob === undefined ? undefined : { publicBlob, encrypted: cipher !== 'none' };
}

/**
 * A local account: the key pair of the account. Every server it launches admits the public key;
 * the platform logs in to them with the private key (so it must be unencrypted).
 */
const LOCAL_CREDENTIALS = z
  .strictObject({
    ssh_private_key: z
      .string()
      .max(16_384)
      .regex(
        OPENSSH_PRIVATE_RE,
        'an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----, as ssh-keygen -t ed25519 writes it)',
      ),
    ssh_public_key: z
      .string()
      .max(16_384)
      .trim()
      .regex(PUBLIC_KEY_RE, "one OpenSSH public key line ('ssh-ed25519 AAAA... comment')"),
  })
  .superRefine((creds, ctx) => {
    const info = opensshKeyInfo(creds.ssh_private_key);
    const blob = PUBLIC_KEY_RE.exec(creds.ssh_public_key)?.[2];
    if (info === undefined)
      ctx.addIssue({ code: 'custom', path: ['ssh_private_key'], message: 'not a readable OpenSSH private key' });
    else if (info.encrypted)
      ctx.addIssue({
        code: 'custom',
        path: ['ssh_private_key'],
        message: 'encrypted with a passphrase: the platform needs an unencrypted key (ssh-keygen -N "")',
      });
    else if (blob !== undefined && !info.publicBlob.equals(Buffer.from(blob, 'base64')))
      ctx.addIssue({ code: 'custom', path: ['ssh_public_key'], message: 'is not the public half of ssh_private_key' });
  });

/** What each provider's credentials file holds (JSON). */
const CREDENTIALS: Record<Provider, z.ZodType<Record<string, unknown>>> = {
  local: LOCAL_CREDENTIALS,
  ec2: z.strictObject({
    access_key_id: z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{8,128}$/,
        'an access key id: 8-128 of A-Z, a-z, 0-9, _ and - (EC2-compatible clouds use other shapes than AWS)',
      ),
    secret_access_key: z.string().min(16).max(256),
    session_token: z.string().min(1).max(4096).optional(),
    // The key pair launched instances admit (RunInstances KeyName) and its private key, with
    // which server.await registers a running instance as a guest; without it, none is registered.
    key_name: z.string().min(1).max(255).optional(),
    ssh_private_key: z.string().min(1).max(16_384).optional(),
  }),
  // A Cobbler user and password, or (user empty) the server's shared secret: a <DIRECT> token.
  cobbler: z.strictObject({
    user: z.string().max(255),
    password: z.string().min(1).max(1024),
  }),
  // A BMC's IPMI user and password (ipmitool -U, and IPMI_PASSWORD for -E: never on a command line).
  ipmi: z.strictObject({
    user: z.string().min(1).max(16),
    password: z.string().min(1).max(20),
    cipher_suite: z.number().int().min(0).max(17).optional(),
  }),
};

const EXPECTED_CREDENTIALS: Record<Provider, string> = {
  local: '{"ssh_private_key": ..., "ssh_public_key": ...}',
  ec2: '{"access_key_id": ..., "secret_access_key": ...}',
  cobbler: '{"user": ..., "password": ...} (user "" with the shared secret as password)',
  ipmi: '{"user": ..., "password": ...} (IPMI 2.0: user at most 16, password at most 20 characters)',
};

/** One credential of a provider as a form asks for it (write-only: a form never shows it back). */
export interface CredentialField {
  key: string;
  /** `secret`: one line, never echoed; `key`: a multi-line key file; `number`: an integer. */
  kind: 'secret' | 'key' | 'number';
  required: boolean;
  hint: string;
}

/** The fields of each provider's credentials (CREDENTIALS above), in the order a form asks for them. */
export const CREDENTIAL_FIELDS: Record<Provider, readonly CredentialField[]> = {
  local: [
    {
      key: 'ssh_private_key',
      kind: 'key',
      required: false,
      hint: 'unencrypted OpenSSH private key; empty (and the public key empty): a new ed25519 pair is generated',
    },
    {
      key: 'ssh_public_key',
      kind: 'secret',
      required: false,
      hint: "its public half, one line 'ssh-ed25519 AAAA... comment'",
    },
  ],
  ec2: [
    { key: 'access_key_id', kind: 'secret', required: true, hint: '8-128 of A-Z, a-z, 0-9, _ and -' },
    { key: 'secret_access_key', kind: 'secret', required: true, hint: '16-256 characters' },
    { key: 'session_token', kind: 'secret', required: false, hint: 'temporary credentials only' },
    {
      key: 'key_name',
      kind: 'secret',
      required: false,
      hint: 'the key pair launched instances admit (RunInstances KeyName)',
    },
    {
      key: 'ssh_private_key',
      kind: 'key',
      required: false,
      hint: "key_name's private key: running servers are registered as guests with it",
    },
  ],
  cobbler: [
    { key: 'user', kind: 'secret', required: false, hint: "empty: password is the server's shared secret" },
    { key: 'password', kind: 'secret', required: true, hint: 'at most 1024 characters' },
  ],
  ipmi: [
    { key: 'user', kind: 'secret', required: true, hint: 'at most 16 characters' },
    { key: 'password', kind: 'secret', required: true, hint: 'at most 20 characters' },
    { key: 'cipher_suite', kind: 'number', required: false, hint: "IPMI 2.0 cipher suite, 0-17 (default: ipmitool's)" },
  ],
};

/** What `endpoint` must look like for each provider (ipmi: the BMC, one account per BMC). */
const ENDPOINTS: Record<Provider, { re: RegExp; rule: string }> = {
  local: { re: /^https?:\/\/[^\s/]+/, rule: 'an http:// or https:// URL' },
  ec2: { re: /^https?:\/\/[^\s/]+/, rule: 'an http:// or https:// URL' },
  cobbler: { re: /^https?:\/\/[^\s/]+/, rule: "Cobbler's XML-RPC URL, http(s)://host/cobbler_api" },
  ipmi: { re: /^ipmi:\/\/[A-Za-z0-9.:[\]-]+$/, rule: "the BMC's address, ipmi://host or ipmi://host:port" },
};

/** One thing wrong with credentials: the field (or '' for the whole) and why, never its value. */
export interface CredentialProblem {
  field: string;
  message: string;
}

/** What is wrong with parsed credentials for a provider (empty: nothing); names fields, never values. */
export function credentialProblems(provider: Provider, raw: unknown): CredentialProblem[] {
  const parsed = CREDENTIALS[provider].safeParse(raw);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) =>
    i.code === 'unrecognized_keys'
      ? { field: '', message: `unknown field(s) ${i.keys.join(', ')}` }
      : i.path.length === 0
        ? { field: '', message: `(file): ${i.message}` }
        : { field: i.path.map(String).join('.'), message: i.message },
  );
}

/**
 * Validates a credentials file's text for a provider; returns the normalized JSON to encrypt.
 * Errors name fields, never values (they are secrets).
 * @throws CmqError CMQ_ERR_ACCOUNT
 */
export function checkCredentials(provider: Provider, text: string): string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CmqError('CMQ_ERR_ACCOUNT', 'credentials file: not JSON');
  }
  const problems = credentialProblems(provider, raw);
  if (problems.length > 0)
    throw new CmqError(
      'CMQ_ERR_ACCOUNT',
      `credentials file for ${provider}: ${problems.map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`)).join('; ')} (expected ${EXPECTED_CREDENTIALS[provider]})`,
    );
  return JSON.stringify(CREDENTIALS[provider].parse(raw));
}

/**
 * Masks decrypted credentials for display: the access key id's last 4 characters at most, never a
 * secret, and neither half of an SSH key pair.
 */
export function maskCredentials(plain: string): Record<string, string> {
  const creds = JSON.parse(plain) as Record<string, unknown>;
  const masked: Record<string, string> = {};
  for (const key of Object.keys(creds))
    masked[key] = key === 'access_key_id' && typeof creds[key] === 'string' ? `****${creds[key].slice(-4)}` : '****';
  return masked;
}

/** An account as listed: everything but its credentials. */
export interface AccountInfo {
  id: string;
  tenant_id: string;
  provider: Provider;
  region: string;
  endpoint: string | null;
  rate: number | null;
  burst: number | null;
  enabled: boolean;
  created_at: Date;
}

export interface AccountSecret extends AccountInfo {
  /** Ciphertext from the keyring; decrypt only to call the provider. */
  credentials: string;
}

export interface NewAccount {
  tenant: string;
  provider: Provider;
  region: string;
  endpoint?: string;
  /** Ciphertext from the keyring, never the credentials themselves. */
  encryptedCredentials: string;
  rate?: number;
  burst?: number;
}

const INFO_COLUMNS = 'id::text, tenant_id, provider, region, endpoint, rate, burst, enabled, created_at';

/**
 * Where an account is: what is wrong with its region and endpoint, by field (empty: nothing).
 * Messages name the field and the rule, never the value: a credential pasted into the wrong field
 * of the console's form would otherwise reach the page's error and the refusal's audit row.
 */
export function accountPlaceProblems(
  provider: Provider,
  region: string,
  endpoint: string | undefined,
): Array<{ field: 'region' | 'endpoint'; message: string }> {
  const problems: Array<{ field: 'region' | 'endpoint'; message: string }> = [];
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(region))
    problems.push({ field: 'region', message: 'region: use 1-63 of a-z, 0-9 and -' });
  const rule = ENDPOINTS[provider];
  if (endpoint !== undefined && !rule.re.test(endpoint))
    problems.push({ field: 'endpoint', message: `endpoint: ${rule.rule}` });
  if (endpoint === undefined && (provider === 'cobbler' || provider === 'ipmi'))
    problems.push({ field: 'endpoint', message: `a ${provider} account needs --endpoint (${rule.rule})` });
  return problems;
}

/** Adds an account and returns its id. @throws CmqError CMQ_ERR_ACCOUNT for an unknown tenant or a bad region or endpoint. */
export async function addAccount(sql: Sql, a: NewAccount): Promise<string> {
  const [problem] = accountPlaceProblems(a.provider, a.region, a.endpoint);
  if (problem !== undefined) throw new CmqError('CMQ_ERR_ACCOUNT', problem.message);
  const tenant = await sql.query('SELECT 1 FROM tenants WHERE id = $1', [a.tenant]);
  if (tenant.rowCount === 0) throw new CmqError('CMQ_ERR_ACCOUNT', `unknown tenant "${a.tenant}" (cmq tenants list)`);
  const { rows } = await sql.query<{ id: string }>(
    'INSERT INTO accounts (tenant_id, provider, region, endpoint, credentials, rate, burst) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text',
    [a.tenant, a.provider, a.region, a.endpoint ?? null, a.encryptedCredentials, a.rate ?? null, a.burst ?? null],
  );
  return (rows[0] as { id: string }).id;
}

export async function listAccounts(sql: Sql, tenant?: string): Promise<AccountInfo[]> {
  const { rows } = await sql.query<AccountInfo>(
    `SELECT ${INFO_COLUMNS} FROM accounts WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id`,
    [tenant ?? null],
  );
  return rows;
}

/** The account with its encrypted credentials, or undefined. */
export async function getAccountSecret(sql: Sql, id: string): Promise<AccountSecret | undefined> {
  if (!isRowId(id)) return undefined;
  const { rows } = await sql.query<AccountSecret>(`SELECT ${INFO_COLUMNS}, credentials FROM accounts WHERE id = $1`, [
    id,
  ]);
  return rows[0];
}

/**
 * Removes an account (its resources, changes, schedule and servers go with it); returns its tenant, or undefined when there was none.
 * @throws CmqError CMQ_ERR_ACCOUNT when an autoscaling policy still launches with it.
 */
export async function removeAccount(sql: Sql, id: string): Promise<string | undefined> {
  if (!isRowId(id)) return undefined;
  try {
    const { rows } = await sql.query<{ tenant_id: string }>('DELETE FROM accounts WHERE id = $1 RETURNING tenant_id', [
      id,
    ]);
    return rows[0]?.tenant_id;
  } catch (err) {
    // policies.account_id has no ON DELETE: a fleet must not lose its account silently.
    if ((err as { code?: string }).code === '23503')
      throw new CmqError(
        'CMQ_ERR_ACCOUNT',
        `account ${id} is the account of an autoscaling policy: point the policy at another account or remove it first (cmq policies list)`,
      );
    throw err;
  }
}
