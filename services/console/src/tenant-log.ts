import { createReadStream } from 'node:fs';
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

/**
 * The lines of `<logDir>/tenants/<tenant>.log` about action `id`, read as a stream (never the
 * whole file in memory), the last `max` kept. A missing file (another host's logs) gives none.
 */
export async function actionLogLines(logDir: string, tenant: string, id: string, max = 200): Promise<TenantLogLine[]> {
  if (!TENANT_ID_RE.test(tenant)) return [];
  const needle = `"action":"${id}"`;
  const needleNum = `"action":${id}`;
  const out: TenantLogLine[] = [];
  const stream = createReadStream(join(logDir, 'tenants', `${tenant}.log`), { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
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
  return out;
}
