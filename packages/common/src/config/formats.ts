import convict from 'convict';

/**
 * Strict formats for convict. Every value read from a properties file or the environment is a
 * string; each format's `coerce` turns a well-formed string into its type and leaves anything
 * else untouched so that `validate` rejects it with a message naming what was expected
 * (convict's own `int` would read "12abc" as 12).
 */
const registered = new Set<string>();

export function register(name: string, validate: (v: unknown) => void, coerce?: (v: unknown) => unknown): string {
  if (!registered.has(name)) {
    convict.addFormat({ name, validate, coerce: coerce ?? ((v: unknown) => v) });
    registered.add(name);
  }
  return name;
}

const INT_RE = /^-?\d+$/;

/** An integer in [min, max]. */
export function integer(min: number, max: number = Number.MAX_SAFE_INTEGER): string {
  return register(
    `cmq-int:${min}:${max}`,
    (v) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw new Error(`must be an integer from ${min} to ${max}`);
      }
    },
    (v) => (typeof v === 'string' && INT_RE.test(v.trim()) ? Number(v.trim()) : v),
  );
}

const DECIMAL_RE = /^-?\d+(?:\.\d+)?$/;

/** A decimal number in [min, max] (`0.5`, `20`). */
export function decimal(min: number, max: number = Number.MAX_SAFE_INTEGER): string {
  return register(
    `cmq-decimal:${min}:${max}`,
    (v) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
        throw new Error(`must be a number from ${min} to ${max}`);
      }
    },
    (v) => (typeof v === 'string' && DECIMAL_RE.test(v.trim()) ? Number(v.trim()) : v),
  );
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` or a plain number of seconds into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m || m[1] === undefined) return undefined;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000));
}

/** Milliseconds as the shortest exact duration text (`30s`, `5m`, `1500ms`, `7d`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] ?? 1;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration held in milliseconds, written as `30s`, `5m`, `500ms`, `1h`, `7d` (bare number = seconds). */
export function duration(minMs: number, maxMs: number = 7 * 24 * 3_600_000): string {
  return register(
    `cmq-duration:${minMs}:${maxMs}`,
    (v) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < minMs || v > maxMs) {
        throw new Error(
          `must be a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)} (e.g. 500ms, 30s, 5m, 1h, 7d)`,
        );
      }
    },
    (v) => (typeof v === 'string' ? (parseDuration(v) ?? v) : v),
  );
}

const BOOLS: Record<string, boolean> = {
  true: true,
  yes: true,
  on: true,
  '1': true,
  false: false,
  no: false,
  off: false,
  '0': false,
};

export const bool = register(
  'cmq-bool',
  (v) => {
    if (typeof v !== 'boolean') throw new Error('must be true or false');
  },
  (v) => (typeof v === 'string' ? (BOOLS[v.trim().toLowerCase()] ?? v) : v),
);

/** A string that must not be empty. */
export const nonEmpty = register('cmq-nonempty', (v) => {
  if (typeof v !== 'string' || v.trim() === '') throw new Error('must not be empty');
});

/** Any string, empty allowed. */
export const text = register('cmq-string', (v) => {
  if (typeof v !== 'string') throw new Error('must be a string');
});

/** A POSIX user name (`^[a-z_][a-z0-9_-]{0,31}$`: no dots, `$`, wildcards or spaces), or empty for "not set". */
export const optionalUserName = register('cmq-optional-user-name', (v) => {
  if (typeof v !== 'string' || (v !== '' && !/^[a-z_][a-z0-9_-]{0,31}$/.test(v)))
    throw new Error('must be a user name (a-z or _, then up to 31 of a-z 0-9 _ -) or empty');
});

/** An absolute filesystem path, or empty for "not set". */
export const optionalPath = register('cmq-optional-path', (v) => {
  if (typeof v !== 'string' || (v !== '' && !v.startsWith('/'))) throw new Error('must be an absolute path (or empty)');
});

/** An absolute filesystem path. */
export const path = register('cmq-path', (v) => {
  if (typeof v !== 'string' || !v.startsWith('/')) throw new Error('must be an absolute path');
});

function splitList(v: unknown): unknown {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : v;
}

/** A comma-separated list whose items pass `check` (which throws with the reason). */
export function list(name: string, check: (item: string) => void, minItems = 1): string {
  return register(
    `cmq-list:${name}:${minItems}`,
    (v) => {
      if (!Array.isArray(v)) throw new Error('must be a comma-separated list');
      if (v.length < minItems) throw new Error(`must list at least ${minItems} item${minItems === 1 ? '' : 's'}`);
      for (const item of v) check(String(item));
    },
    splitList,
  );
}

/** A comma-separated list drawn from `allowed`. */
export function listOf(allowed: readonly string[], minItems = 1): string {
  return list(
    allowed.join('|'),
    (item) => {
      if (!allowed.includes(item)) throw new Error(`"${item}" is not one of ${allowed.join(', ')}`);
    },
    minItems,
  );
}

/** One of `allowed`. */
export function oneOf(allowed: readonly string[]): string {
  return register(
    `cmq-enum:${allowed.join('|')}`,
    (v) => {
      if (typeof v !== 'string' || !allowed.includes(v)) throw new Error(`must be one of ${allowed.join(', ')}`);
    },
    (v) => (typeof v === 'string' ? v.trim() : v),
  );
}

const CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Checks an IPv4 CIDR such as `10.0.0.0/8`; throws with the reason. */
export function checkCidr(item: string): void {
  const m = CIDR_RE.exec(item);
  const ok = m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  if (!ok) throw new Error(`"${item}" is not an IPv4 network in CIDR form (e.g. 10.0.0.0/8)`);
}

/** Checks an AMQP URL; throws with the reason (without echoing credentials). */
export function checkAmqpUrl(item: string): void {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    throw new Error('an entry is not a URL (expected amqp://host:port or amqps://host:port)');
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw new Error(`an entry has scheme "${url.protocol}" (expected amqp: or amqps:)`);
  }
  if (url.hostname === '') throw new Error('an entry has no host');
}
