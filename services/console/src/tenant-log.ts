import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TENANT_ID_RE } from '@cmq/actions';

/** One line of a tenant's log about an action, as the page shows it. */
export interface TenantLogLine {
  time: string;
  level: string;
  service: string;
  msg: string;
  /** The remaining fields, as JSON text (the files are already redacted). */
  fields: string;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const SHOWN = new Set(['time', 'level', 'msg', 'service', 'name', 'pid', 'hostname', 'tenant', 'action']);

/** A field as text: strings as they are, anything else as JSON. */
function text(value: unknown, absent: string): string {
  if (value === undefined || value === null) return absent;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function lineOf(o: Record<string, unknown>): TenantLogLine {
  const rest = Object.fromEntries(Object.entries(o).filter(([k]) => !SHOWN.has(k)));
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString() : text(o.time, '');
  return {
    time,
    level: typeof o.level === 'number' ? (LEVELS[o.level] ?? String(o.level)) : text(o.level, ''),
    service: `${text(o.service, '?')}/${text(o.name, '?')}`,
    msg: text(o.msg, ''),
    fields: Object.keys(rest).length === 0 ? '' : JSON.stringify(rest),
  };
}

/** How much of the end of a tenant log the action page reads (the file can be gigabytes). */
export const TAIL_BYTES = 8 * 1024 * 1024;

/** An action's log lines and how many bytes at the start of the file were not read (0: all were). */
export interface ActionLog {
  lines: TenantLogLine[];
  skipped: number;
}

/** The file's size, or undefined when it does not exist (another host's logs). */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The lines of `<logDir>/tenants/<tenant>.log` about action `id`, read as a stream from at most
 * `tailBytes` before its end (the first, partial line of that tail dropped), the last `max` kept.
 * A missing file (another host's logs) gives none.
 */
export async function actionLogLines(
  logDir: string,
  tenant: string,
  id: string,
  { max = 200, tailBytes = TAIL_BYTES }: { max?: number; tailBytes?: number } = {},
): Promise<ActionLog> {
  if (!TENANT_ID_RE.test(tenant)) return { lines: [], skipped: 0 };
  const path = join(logDir, 'tenants', `${tenant}.log`);
  const size = await sizeOf(path);
  if (size === undefined) return { lines: [], skipped: 0 };
  const skipped = Math.max(0, size - tailBytes);
  const needle = `"action":"${id}"`;
  const needleNum = `"action":${id}`;
  const out: TenantLogLine[] = [];
  const stream = createReadStream(path, { encoding: 'utf8', start: skipped });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let first = skipped > 0;
  try {
    for await (const line of lines) {
      if (first) {
        first = false; // the tail starts mid-line
        continue;
      }
      if (!line.includes(needle) && !line.includes(needleNum)) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (text(o.action, '') !== id) continue;
        out.push(lineOf(o));
        if (out.length > max) out.shift();
      } catch {
        // a torn last line: skipped
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    lines.close();
    stream.destroy();
  }
  return { lines: out, skipped };
}
