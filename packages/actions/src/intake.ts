import {
  CmqError,
  type CmqErrorCode,
  ConfigError,
  type Keyring,
  type Sql,
  type Transactor,
  errorText,
} from '@cmq/common';
import { type Mode, modeRefusal } from './modes';
import type { ActionRequest } from './request';
import { type RequestIssue, issueText, issuesText } from './request-issues';
import { argName, sealSecretArgs, secretArgs } from './secret-args';
import { jsonDocArray, sizeRanges, utf8Bound } from './storable';

/** A request refused at intake (unknown tenant...): nothing of its batch was inserted. */
export class IntakeError extends CmqError {
  /** What was refused, field by field; the message is built from them (after `request N: ` in a batch). */
  readonly issues: readonly RequestIssue[];

  /** `problem`: the issues, or a text that names no particular field. */
  constructor(
    problem: string | readonly RequestIssue[],
    code: Extract<CmqErrorCode, 'CMQ_ERR_INTAKE' | 'CMQ_ERR_SECRET_KEYRING'> = 'CMQ_ERR_INTAKE',
    where = '',
  ) {
    const issues = typeof problem === 'string' ? [{ path: [], subject: '', message: problem }] : problem;
    super(code, `${where}${issuesText(issues)}`);
    this.issues = issues;
  }
}

/** What intake enforces beyond each request's own validity. */
export interface IntakeOptions {
  /** provisioning.cfg `mode`: types it refuses are refused. Omitted only by internal callers of monitoring types. */
  mode?: Mode;
  /**
   * The keyring of km-client.cfg (undefined: km.keys_file is unset), asked for only when a request
   * has secret arguments: without one, such a request is refused.
   */
  keyring?: () => Keyring | undefined;
}

function where(requests: readonly ActionRequest[], index: number): string {
  return requests.length > 1 ? `request ${index + 1}: ` : '';
}

/** Why a disabled tenant's actions are refused (at intake) or rejected (when claimed). */
export function tenantDisabled(tenant: string): string {
  return `tenant "${tenant}" is disabled (\`cmq tenants enable ${tenant}\`)`;
}

/** Why a tenant refuses actions, as an issue of the request's `tenant`; undefined when it takes them. */
export function tenantIssue(tenant: string, enabled: boolean | undefined): RequestIssue | undefined {
  if (enabled === undefined)
    return { path: ['tenant'], message: `unknown tenant "${tenant}" (add it with \`cmq tenants add\`)` };
  if (!enabled) return { path: ['tenant'], message: tenantDisabled(tenant) };
  return undefined;
}

/** Why a tenant refuses actions: unknown or disabled; undefined when it takes them. */
export function tenantRefusal(tenant: string, enabled: boolean | undefined): string | undefined {
  const issue = tenantIssue(tenant, enabled);
  return issue === undefined ? undefined : issueText(issue);
}

/**
 * Refuses the batch if any tenant is unknown or disabled, naming the first request that uses it.
 * The tenants stay locked (FOR KEY SHARE) until the batch commits: this, not a foreign key, is
 * what keeps a tenant from being deleted under its new actions (migration 011).
 */
async function checkTenants(sql: Sql, requests: readonly ActionRequest[]): Promise<void> {
  const wanted = [...new Set(requests.map((r) => r.tenant))];
  const { rows } = await sql.query<{ id: string; enabled: boolean }>({
    name: 'cmq_intake_tenants',
    text: 'SELECT id, enabled FROM tenants WHERE id = ANY($1::text[]) FOR KEY SHARE',
    values: [wanted],
  });
  const enabled = new Map(rows.map((r) => [r.id, r.enabled]));
  for (const [index, r] of requests.entries()) {
    const issue = tenantIssue(r.tenant, enabled.get(r.tenant));
    if (issue !== undefined) throw new IntakeError([issue], 'CMQ_ERR_INTAKE', where(requests, index));
  }
}

/** Why the mode refuses a type, as an issue of the request's `type` (its text names the type and the mode); undefined when it allows it. */
export function modeIssue(mode: Mode, type: string): RequestIssue | undefined {
  const refusal = modeRefusal(mode, type);
  return refusal === undefined ? undefined : { path: ['type'], subject: '', message: refusal };
}

/** Refuses the batch if the mode refuses any request's type, naming the first. */
function checkMode(requests: readonly ActionRequest[], mode: Mode | undefined): void {
  if (mode === undefined) return;
  for (const [index, r] of requests.entries()) {
    const issue = modeIssue(mode, r.type);
    if (issue !== undefined) throw new IntakeError([issue], 'CMQ_ERR_INTAKE', where(requests, index));
  }
}

/** Why a request with secret arguments cannot be taken in without a keyring, as an issue of its first; undefined when it has none. */
function secretIssue(request: Pick<ActionRequest, 'type' | 'args'>, reason: string): RequestIssue | undefined {
  const [first] = secretArgs(request.type, request.args);
  if (first === undefined) return undefined;
  return {
    path: ['args', ...first.path],
    subject: '',
    message: `${argName(first.path)} is a secret argument, stored only encrypted with the keyring of km-client.cfg, and ${reason}`,
  };
}

/** Why a request with secret arguments cannot be taken in without a keyring; undefined when it has none. */
export function secretRefusal(request: Pick<ActionRequest, 'type' | 'args'>, reason: string): string | undefined {
  return secretIssue(request, reason)?.message;
}

const KEYS_FILE_UNSET = 'km.keys_file is not set there (set km.keys_file and km.active_key_id in km-client.cfg)';

/** The keyring `keyring` gives, or why there is none to seal with; a configuration error is thrown as it is. */
function readKeyring(keyring: IntakeOptions['keyring']): { ring: Keyring } | { problem: string } {
  let ring: Keyring | undefined;
  try {
    ring = keyring?.();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return { problem: `that keyring cannot be read: ${errorText(err)}` };
  }
  return ring === undefined ? { problem: KEYS_FILE_UNSET } : { ring };
}

/**
 * Why `keyring` cannot seal secret arguments (km.keys_file unset, or its keyring unreadable);
 * undefined when it can. A configuration error is thrown as it is (exit 78 in `cmq`).
 */
export function keyringProblem(keyring: IntakeOptions['keyring']): string | undefined {
  const read = readKeyring(keyring);
  return 'problem' in read ? read.problem : undefined;
}

/** A keyring for sealing secret arguments (read once), or an IntakeError naming the first request that needs one. */
function intakeKeyring(requests: readonly ActionRequest[], keyring: IntakeOptions['keyring']): () => Keyring {
  let ring: Keyring | undefined;
  return () => {
    if (ring !== undefined) return ring;
    const read = readKeyring(keyring);
    if ('ring' in read) return (ring = read.ring);
    const index = requests.findIndex((r) => secretArgs(r.type, r.args).length > 0);
    const issue = secretIssue(requests[index] as ActionRequest, read.problem) ?? {
      path: [],
      subject: '',
      message: read.problem,
    };
    throw new IntakeError([issue], 'CMQ_ERR_SECRET_KEYRING', where(requests, index));
  };
}

/**
 * Requests without an idempotency key (bulk submissions, most of them) are inserted plainly; only
 * those with one go through ON CONFLICT, whose speculative insertion costs every row an extra
 * lock, index probe and WAL record. Arguments come as one JSON array (see jsonDocArray).
 */
const INSERT = `
WITH input AS (
  SELECT t.id, t.tenant_id, t.type, t.family, t.args -> 0 AS args, t.idempotency_key, t.not_before, t.expires_at, t.priority, t.max_attempts, t.secret_args
  FROM ROWS FROM (unnest($1::bigint[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), jsonb_array_elements($5::jsonb),
                  unnest($6::text[]), unnest($7::timestamptz[]), unnest($8::timestamptz[]), unnest($9::int[]), unnest($10::int[]),
                  unnest($12::text[]))
    AS t(id, tenant_id, type, family, args, idempotency_key, not_before, expires_at, priority, max_attempts, secret_args)
), plain AS (
  INSERT INTO actions (id, tenant_id, type, family, args, idempotency_key, not_before, expires_at, priority, max_attempts, secret_args)
  OVERRIDING SYSTEM VALUE
  SELECT id, tenant_id, type, family, args, idempotency_key, COALESCE(not_before, now()), expires_at, priority, max_attempts, secret_args
  FROM input WHERE idempotency_key IS NULL
  RETURNING id
), keyed AS (
  INSERT INTO actions (id, tenant_id, type, family, args, idempotency_key, not_before, expires_at, priority, max_attempts, secret_args)
  OVERRIDING SYSTEM VALUE
  SELECT id, tenant_id, type, family, args, idempotency_key, COALESCE(not_before, now()), expires_at, priority, max_attempts, secret_args
  FROM input WHERE idempotency_key IS NOT NULL
  ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id
), ins AS (
  SELECT id FROM plain UNION ALL SELECT id FROM keyed
), ev AS (
  -- transition intake: none -> pending
  INSERT INTO action_events (action_id, from_state, to_state, actor, reason)
  SELECT id, NULL, 'pending', $11, 'submitted' FROM ins
)
SELECT id::text FROM ins`;

/**
 * Inserts a batch of validated requests in one transaction and returns their ids in order.
 * A request whose idempotency key its tenant already used gets the existing action's id. Secret
 * arguments are stored encrypted with `options.keyring` (secret-args.ts), masked in `args`.
 * @throws IntakeError when a tenant is unknown or disabled, the mode refuses a type, or a request
 * has secret arguments and no keyring can seal them (nothing inserted).
 */
export async function insertActions(
  transaction: Transactor,
  requests: readonly ActionRequest[],
  actor: string,
  options: IntakeOptions = {},
): Promise<string[]> {
  if (requests.length === 0) return [];
  checkMode(requests, options.mode);
  const keyring = intakeKeyring(requests, options.keyring);
  const sealed = requests.map((r) => sealSecretArgs(r.type, r.args, keyring));
  return transaction(async (sql) => {
    await checkTenants(sql, requests);
    // The sequence is looked up once (an InitPlan), not per row: pg_get_serial_sequence searches
    // the catalog each time it runs, seven times the cost of the nextval itself.
    const ids = await sql.query<{ id: string }>({
      name: 'cmq_intake_ids',
      text: "SELECT nextval((SELECT pg_get_serial_sequence('actions', 'id')::regclass))::text AS id FROM generate_series(1, $1)",
      values: [requests.length],
    });
    const preassigned = ids.rows.map((r) => r.id);
    const args = sealed.map((s) => JSON.stringify(s.args));
    const fresh = new Set<string>();
    // A large batch (`cmq call --stdin --batch` with large arguments) goes as several statements;
    // sealed secrets count too, as the statement carries them beside the arguments.
    for (const [from, to] of sizeRanges(args.map((a, i) => utf8Bound(a) + utf8Bound(sealed[i]?.sealed)))) {
      const part = requests.slice(from, to);
      const col = <T>(f: (r: ActionRequest) => T): T[] => part.map(f);
      const inserted = await sql.query<{ id: string }>({
        name: 'cmq_intake_insert',
        text: INSERT,
        values: [
          preassigned.slice(from, to),
          col((r) => r.tenant),
          col((r) => r.type),
          col((r) => r.family),
          jsonDocArray(args.slice(from, to)),
          col((r) => r.idempotencyKey),
          col((r) => r.notBefore),
          col((r) => r.expiresAt),
          col((r) => r.priority),
          col((r) => r.maxAttempts),
          actor,
          sealed.slice(from, to).map((s) => s.sealed),
        ],
      });
      for (const r of inserted.rows) fresh.add(r.id);
    }
    if (fresh.size === requests.length) return preassigned;
    return resolveExisting(sql, requests, preassigned, fresh);
  });
}

/** For requests not inserted (idempotency key already used), the id of the action that has it. */
async function resolveExisting(
  sql: Sql,
  requests: readonly ActionRequest[],
  preassigned: string[],
  fresh: Set<string>,
): Promise<string[]> {
  const missing = requests.map((r, i) => ({ r, i })).filter(({ i }) => !fresh.has(preassigned[i] as string));
  const { rows } = await sql.query<{ id: string; tenant_id: string; idempotency_key: string }>(
    'SELECT id::text, tenant_id, idempotency_key FROM actions WHERE (tenant_id, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))',
    [missing.map(({ r }) => r.tenant), missing.map(({ r }) => r.idempotencyKey)],
  );
  const byKey = new Map(rows.map((row) => [`${row.tenant_id}\0${row.idempotency_key}`, row.id]));
  const result = [...preassigned];
  for (const { r, i } of missing)
    result[i] = byKey.get(`${r.tenant}\0${r.idempotencyKey ?? ''}`) ?? (preassigned[i] as string);
  return result;
}
