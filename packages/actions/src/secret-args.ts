import type { Keyring, Sql } from '@cmq/common';
import { actionDefinition } from './definitions';

/** What a secret argument is shown as wherever arguments are stored, published or printed. */
export const SECRET_MASK = '****';

/** Secret values shorter than this are not masked in free text (they would mask common words). */
export const SECRET_TEXT_MIN = 4;

/** One secret argument found in a request's arguments: its path and its value. */
export interface SecretArg {
  readonly path: readonly string[];
  readonly value: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function collect(value: unknown, pattern: readonly string[], at: string[], out: SecretArg[]): void {
  const [head, ...rest] = pattern;
  if (head === undefined) {
    if (value !== undefined) out.push({ path: at, value });
    return;
  }
  if (!isRecord(value)) return;
  const keys = head === '*' ? Object.keys(value) : Object.hasOwn(value, head) ? [head] : [];
  for (const key of keys) collect(value[key], rest, [...at, key], out);
}

/**
 * The arguments of an action of `type` that its definition marks secret (`secretArgs`), found in
 * `args` as given (valid or not): none for an unknown type or a type without secrets.
 */
export function secretArgs(type: string, args: unknown): SecretArg[] {
  const out: SecretArg[] = [];
  for (const pattern of actionDefinition(type)?.secretArgs ?? []) collect(args, pattern.split('.'), [], out);
  return out;
}

/** `args.a.b`: how messages name an argument. */
export function argName(path: readonly string[]): string {
  return ['args', ...path].join('.');
}

// A key of JSON may be "__proto__": an own data property, never the prototype's setter.
function setAt(root: unknown, path: readonly string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) node = isRecord(node) ? node[key] : undefined;
  const last = path[path.length - 1];
  if (isRecord(node) && last !== undefined)
    Object.defineProperty(node, last, { value, writable: true, enumerable: true, configurable: true });
}

function withValues<T>(args: T, values: ReadonlyArray<readonly [readonly string[], unknown]>): T {
  // Arguments are JSON: a JSON copy keeps "__proto__" keys as own properties.
  const copy = JSON.parse(JSON.stringify(args)) as T;
  for (const [path, value] of values) setAt(copy, path, value);
  return copy;
}

/** A copy of `args` with each secret argument of `type` replaced by {@link SECRET_MASK} (`args` itself when none). */
export function maskSecretArgs<T>(type: string, args: T): T {
  const found = secretArgs(type, args);
  return found.length === 0
    ? args
    : withValues(
        args,
        found.map((s) => [s.path, SECRET_MASK] as const),
      );
}

/** Arguments as stored: secrets masked in `args`, and all of them in one keyring ciphertext. */
export interface SealedArgs<T> {
  args: T;
  /** `v1:<key id>:...` of the secret arguments with their paths; null when there are none. */
  sealed: string | null;
}

/**
 * Takes the secret arguments of `type` out of `args` and encrypts them with `keyring`, which is
 * called only when there is one. Throws what `keyring` throws.
 */
export function sealSecretArgs<T>(type: string, args: T, keyring: () => Keyring): SealedArgs<T> {
  const found = secretArgs(type, args);
  if (found.length === 0) return { args, sealed: null };
  const sealed = keyring().encrypt(JSON.stringify(found.map((s) => [s.path, s.value])));
  return { args: maskSecretArgs(type, args), sealed };
}

/**
 * `args` as requested: the sealed secret arguments decrypted and put back in place, and their
 * values (to mask them in what the action outputs). For handlers only; `keyring` is called only
 * when there are sealed arguments.
 * @throws CmqError from {@link Keyring.decrypt} (unknown key id, failed authentication).
 */
export function unsealSecretArgs<T>(
  args: T,
  sealed: string | null,
  keyring: () => Keyring,
): { args: T; secrets: string[] } {
  if (sealed === null) return { args, secrets: [] };
  const entries = JSON.parse(keyring().decrypt(sealed).toString('utf8')) as Array<[string[], unknown]>;
  const secrets = entries.map(([, value]) => value).filter((v): v is string => typeof v === 'string');
  return { args: withValues(args, entries), secrets };
}

/**
 * Whether stored `args` of `type` had secret arguments sealed away (each is {@link SECRET_MASK}
 * there): only then has the action a ciphertext worth loading.
 */
export function hasSealedArgs(type: string, args: unknown): boolean {
  return secretArgs(type, args).some((s) => s.value === SECRET_MASK);
}

/** The sealed secret arguments of action `id` (null: it has none). */
export async function loadSecretArgs(sql: Sql, id: string): Promise<string | null> {
  const { rows } = await sql.query<{ secret_args: string | null }>('SELECT secret_args FROM actions WHERE id = $1', [
    id,
  ]);
  return rows[0]?.secret_args ?? null;
}

/**
 * A function that replaces each secret value (of {@link SECRET_TEXT_MIN} characters or more) in a
 * text by {@link SECRET_MASK}, longest first so that a value containing another is masked whole.
 */
export function secretMasker(secrets: readonly string[]): (text: string) => string {
  const masked = [...new Set(secrets)].filter((v) => v.length >= SECRET_TEXT_MIN).sort((a, b) => b.length - a.length);
  return (text) => masked.reduce((t, secret) => t.split(secret).join(SECRET_MASK), text);
}

function parsedBody(body: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(parsed) && typeof parsed.type === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The name of a secret argument that {@link maskBodySecrets} masked in a request body with no
 * action id (a direct request: replaying it would run it with "****"); undefined when none.
 */
export function maskedSecretArg(body: Buffer): string | undefined {
  const parsed = parsedBody(body);
  if (parsed === undefined || parsed.id !== undefined) return undefined;
  const masked = secretArgs(parsed.type as string, parsed.args).find((s) => s.value === SECRET_MASK);
  return masked === undefined ? undefined : argName(masked.path);
}

/**
 * A message body with the secret arguments of its request masked, for copies that are kept or
 * published (dead letters). A body that is not a JSON object with a type comes back as it is.
 */
export function maskBodySecrets(body: Buffer): Buffer {
  const parsed = parsedBody(body);
  if (parsed === undefined || typeof parsed.type !== 'string') return body;
  if (secretArgs(parsed.type, parsed.args).length === 0) return body;
  return Buffer.from(JSON.stringify({ ...parsed, args: maskSecretArgs(parsed.type, parsed.args) }));
}
