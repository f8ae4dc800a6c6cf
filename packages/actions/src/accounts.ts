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

/** What `endpoint` must look like for each provider (ipmi: the BMC, one account per BMC). */
const ENDPOINTS: Record<Provider, { re: RegExp; rule: string }> = {
  local: { re: /^https?:\/\/[^\s/]+/, rule: 'an http:// or https:// URL' },
  ec2: { re: /^https?:\/\/[^\s/]+/, rule: 'an http:// or https:// URL' },
  cobbler: { re: /^https?:\/\/[^\s/]+/, rule: "Cobbler's XML-RPC URL, http(s)://host/cobbler_api" },
  ipmi: { re: /^ipmi:\/\/[A-Za-z0-9.:[\]-]+$/, rule: "the BMC's address, ipmi://host or ipmi://host:port" },
};

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
  const parsed = CREDENTIALS[provider].safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? `unknown field(s) ${i.keys.join(', ')}`
        : `${i.path.map(String).join('.') || '(file)'}: ${i.message}`,
    );
    throw new CmqError(
      'CMQ_ERR_ACCOUNT',
      `credentials file for ${provider}: ${problems.join('; ')} (expected ${EXPECTED_CREDENTIALS[provider]})`,
    );
  }
  return JSON.stringify(parsed.data);
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

/** Adds an account and returns its id. @throws CmqError CMQ_ERR_ACCOUNT for an unknown tenant or a bad region or endpoint. */
export async function addAccount(sql: Sql, a: NewAccount): Promise<string> {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(a.region))
    throw new CmqError('CMQ_ERR_ACCOUNT', `region "${a.region}": use 1-63 of a-z, 0-9 and -`);
  const endpoint = ENDPOINTS[a.provider];
  if (a.endpoint !== undefined && !endpoint.re.test(a.endpoint))
    throw new CmqError('CMQ_ERR_ACCOUNT', `endpoint "${a.endpoint}": ${endpoint.rule}`);
  if (a.endpoint === undefined && (a.provider === 'cobbler' || a.provider === 'ipmi'))
    throw new CmqError('CMQ_ERR_ACCOUNT', `a ${a.provider} account needs --endpoint (${endpoint.rule})`);
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

/** Removes an account (its resources, changes, schedule and servers go with it); returns its tenant, or undefined when there was none. */
export async function removeAccount(sql: Sql, id: string): Promise<string | undefined> {
  if (!isRowId(id)) return undefined;
  const { rows } = await sql.query<{ tenant_id: string }>('DELETE FROM accounts WHERE id = $1 RETURNING tenant_id', [
    id,
  ]);
  return rows[0]?.tenant_id;
}
