import { type LOG_LEVELS, REDACT_PATHS } from '@cmq/common';
import { printable } from './format';

/** pino's numeric levels, for lines that carry a number instead of a label. */
const NUMERIC: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** Least to most severe. */
const ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** Shown in the line's fixed part, or not at all. */
const FIXED = new Set(['time', 'level', 'service', 'name', 'pid', 'hostname', 'msg', 'tenant', 'action']);
/** Never printed, even though the files are already redacted: any field named like a secret. */
const SECRET_RE = new RegExp(
  `^(${REDACT_PATHS.filter((p) => !p.includes('.')).join('|')}|pass.*|.*secret.*|.*credential.*|.*private.?key.*)$`,
  'i',
);

export interface LineFilter {
  /** Only lines at or after this time (ms since the epoch). */
  since?: number;
  /** Only lines at or above this level. */
  level?: (typeof LOG_LEVELS)[number];
}

function levelName(value: unknown): string {
  if (typeof value === 'number') return NUMERIC[value] ?? String(value);
  return typeof value === 'string' ? value : '?';
}

function severity(level: string): number {
  return (ORDER as readonly string[]).indexOf(level);
}

/** A field value as text: plain when it has no blank, quote or `=`, JSON otherwise; secrets never. */
function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value, (k, v: unknown) => (k !== '' && SECRET_RE.test(k) ? '[redacted]' : v)) ?? 'null';
}

/** A string as it is; anything else as JSON. */
function plain(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}

function fields(line: Record<string, unknown>): string {
  return Object.entries(line)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${SECRET_RE.test(k) ? '[redacted]' : fieldText(v)}`)
    .join(' ');
}

/**
 * `TIME LEVEL service/name [action] message key=value...` for one JSON log line, or undefined
 * when the filter drops it. A line that is not JSON is printed as it is (unless filtered by level
 * or time, which it cannot show).
 */
export function formatLogLine(text: string, filter: LineFilter): string | undefined {
  let line: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    line = parsed as Record<string, unknown>;
  } catch {
    return filter.since === undefined && filter.level === undefined ? printable(text) : undefined;
  }
  const level = levelName(line.level);
  if (filter.level !== undefined && severity(level) < severity(filter.level)) return undefined;
  const time =
    typeof line.time === 'string' ? line.time : typeof line.time === 'number' ? new Date(line.time).toISOString() : '?';
  if (filter.since !== undefined && !(Date.parse(time) >= filter.since)) return undefined;
  const action = line.action === undefined ? '' : ` [${plain(line.action)}]`;
  const rest = fields(line);
  // Values are what hosts and messages sent: control characters shown escaped, never sent to the terminal.
  return printable(
    `${time} ${level.toUpperCase().padEnd(5)} ${plain(line.service ?? '?')}/${plain(line.name ?? '?')}${action} ${plain(line.msg ?? '')}${rest === '' ? '' : ` ${rest}`}`,
  );
}
