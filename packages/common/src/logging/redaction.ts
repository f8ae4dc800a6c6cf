/**
 * The one home of secret redaction: the log files (pino's `redact` paths) and the error reports
 * (every string of an event) use these rules.
 */

/** Field names that hold secrets wherever they appear. */
export const SECRET_FIELDS = [
  'password',
  'passphrase',
  'secret',
  'secretAccessKey',
  'secret_access_key',
  'sessionToken',
  'session_token',
  'credentials',
  'privateKey',
  'private_key',
  'ssh_private_key',
  'sshPrivateKey',
  'token',
  'authorization',
];

/** pino `redact` paths of the secret fields (top level or one level down). */
export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]);

/** What a redacted secret is replaced by. */
export const REDACTED = '[redacted]';

const SECRET_FIELD_SET = new Set(SECRET_FIELDS.map((f) => f.toLowerCase()));
const FIELD_ALTERNATION = SECRET_FIELDS.join('|');

/** Secrets inside free text (error messages, source lines), each with its replacement. */
const TEXT_RULES: ReadonlyArray<[RegExp, string]> = [
  // A PEM private key (RSA, EC, OPENSSH, PKCS#8, encrypted), also when cut short.
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, REDACTED],
  // The password of a URL: scheme://user:password@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]*@/gi, `$1:${REDACTED}@`],
  // name=value, name: value, "name":"value" for any secret field name (aws_secret_access_key too).
  [
    new RegExp(`\\b([A-Za-z0-9_-]*?(?:${FIELD_ALTERNATION}))(["']?\\s*[:=]\\s*["']?)[^\\s"',;&]+`, 'gi'),
    `$1$2${REDACTED}`,
  ],
  // A cloud secret access key (40 characters of base64 with upper and lower case letters).
  [
    /(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g,
    REDACTED,
  ],
];

/** `text` with every secret it visibly holds (keys, URL passwords, name=value pairs) replaced. */
export function redactText(text: string): string {
  return TEXT_RULES.reduce((t, [re, replacement]) => t.replace(re, replacement), text);
}

/** Whether a field of this name holds a secret (case-insensitive). */
export function isSecretField(name: string): boolean {
  return SECRET_FIELD_SET.has(name.toLowerCase());
}

/**
 * A deep copy of `value` with every secret field's value replaced and every string passed
 * through {@link redactText}. Cycles and depth beyond 20 become `[redacted]`.
 */
export function redactDeep<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 20 || seen.has(value)) return REDACTED;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretField(k) ? REDACTED : walk(v, depth + 1, seen);
  return out;
}
