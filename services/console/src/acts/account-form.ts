import {
  type AccountInfo,
  CREDENTIAL_FIELDS,
  type CredentialField,
  PROVIDERS,
  type Provider,
  credentialProblems,
  generateLocalCredentials,
} from '@cmq/actions';
import { CmqError } from '@cmq/common';

/** The form of an account: what it shows back (never a credential) and the errors beside fields. */
export interface AccountForm {
  provider: Provider;
  providers: readonly Provider[];
  /** The tenants the user may choose from (one when bound to a tenant). */
  tenants: string[];
  tenantFixed: string | null;
  /** The account being rotated or removed; absent when adding one. */
  account: AccountInfo | null;
  /** Credential fields of the provider: always rendered empty (write-only). */
  fields: readonly CredentialField[];
  /** tenant, region, endpoint, rate, burst as typed: never a credential. */
  values: Record<string, string>;
  /** By form field name (`cred.<key>`, `region`, ...); '' for the form as a whole. */
  errors: Record<string, string>;
  /** Rotation: the key the credentials are under and when they were set. */
  age?: { key_id: string; changed_at: Date } | null;
}

export const CRED_PREFIX = 'cred.';

export function isProvider(p: string): p is Provider {
  return (PROVIDERS as readonly string[]).includes(p);
}

/** The form's values a page may show again: never a `cred.` field, never the CSRF token. */
export function shownValues(body: Record<string, string>): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const k of ['tenant', 'region', 'endpoint', 'rate', 'burst']) if (body[k] !== undefined) shown[k] = body[k];
  return shown;
}

/** One credential as typed: key files with LF line ends (a textarea sends CRLF), one-liners trimmed. */
function typed(field: CredentialField, body: Record<string, string>): string {
  const raw = body[`${CRED_PREFIX}${field.key}`] ?? '';
  if (field.kind !== 'key') return raw.trim();
  const text = raw.replace(/\r\n?/g, '\n').trim();
  return text === '' ? '' : `${text}\n`;
}

/**
 * The provider's credentials JSON from the form's `cred.<key>` fields, or the errors beside them
 * (messages name fields and rules, never what was typed). A local account with neither half of
 * its key pair typed gets a new pair, as `cmq accounts add` without a file.
 */
export function credentialsOfForm(
  provider: Provider,
  tenant: string,
  body: Record<string, string>,
): { text: string; generated: boolean } | { errors: Record<string, string> } {
  const fields = CREDENTIAL_FIELDS[provider];
  const given = new Map(fields.map((f) => [f, typed(f, body)] as const));
  if (provider === 'local' && [...given.values()].every((v) => v === '')) {
    try {
      return { text: generateLocalCredentials(tenant), generated: true };
    } catch (err) {
      if (err instanceof CmqError) return { errors: { [`${CRED_PREFIX}ssh_private_key`]: err.message } };
      throw err;
    }
  }
  const errors: Record<string, string> = {};
  const creds: Record<string, unknown> = {};
  for (const [f, v] of given) {
    const name = `${CRED_PREFIX}${f.key}`;
    if (v === '') {
      if (f.required || provider === 'local') errors[name] = 'required';
    } else if (f.kind === 'number') {
      if (/^\d{1,3}$/.test(v)) creds[f.key] = Number(v);
      else errors[name] = 'an integer';
    } else creds[f.key] = v;
  }
  if (Object.keys(errors).length > 0) return { errors };
  for (const p of credentialProblems(provider, creds)) {
    const name = p.field === '' ? '' : `${CRED_PREFIX}${p.field}`;
    errors[name] = errors[name] === undefined ? p.message : `${errors[name]}; ${p.message}`;
  }
  if (Object.keys(errors).length > 0) return { errors };
  return { text: JSON.stringify(creds), generated: false };
}

/** `rate` and `burst` as `accounts add --rate --burst` take them, or the errors beside them. */
export function limitsOfForm(body: Record<string, string>): {
  rate?: number;
  burst?: number;
  errors: Record<string, string>;
} {
  const errors: Record<string, string> = {};
  const out: { rate?: number; burst?: number } = {};
  const rate = (body.rate ?? '').trim();
  const burst = (body.burst ?? '').trim();
  if (rate !== '') {
    const n = Number(rate);
    if (Number.isFinite(n) && n > 0) out.rate = n;
    else errors.rate = 'a positive number of calls per second (empty: provisioning.cfg cloud.rate)';
  }
  if (burst !== '') {
    const n = Number(burst);
    if (Number.isInteger(n) && n >= 1 && n <= 1_000_000) out.burst = n;
    else errors.burst = 'an integer from 1 to 1000000 (empty: provisioning.cfg cloud.burst)';
  }
  return { ...out, errors };
}
