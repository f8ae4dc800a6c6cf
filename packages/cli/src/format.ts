import { type ActionEvent, type ActionRow, oneLine, printable } from '@cmq/actions';
import { REDACT_PATHS } from '@cmq/common';

/** Field names whose values are never printed (the loggers' list), at any depth. */
const SECRET_KEYS = new Set(REDACT_PATHS.filter((p) => !p.includes('.')).map((p) => p.toLowerCase()));

/** JSON on one line, with the value of every secret-named field replaced. */
export function safeJson(value: unknown): string {
  return (
    JSON.stringify(value, (key, v: unknown) => (key !== '' && SECRET_KEYS.has(key.toLowerCase()) ? '[redacted]' : v)) ??
    'null'
  );
}

/** One line of `safeJson` per row (`--json` listings). */
export function jsonLines(rows: readonly unknown[]): string {
  return rows.map((r) => `${safeJson(r)}\n`).join('');
}

/** `2024-05-01T12:00:00.123Z`, or `-` for none. */
export function time(d: Date | null | undefined): string {
  return d === null || d === undefined ? '-' : d.toISOString();
}

export { oneLine, printable };

/** A plain text table: a header line, then one line per row, columns padded (the last is not). */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  // Escaped before measuring: an escaped control character is six columns wide.
  const shown = rows.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...shown.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(header), ...shown.map(line)].map((l) => `${l}\n`).join('');
}

/** `cmq actions`: one line per action. */
export function actionsTable(rows: readonly ActionRow[]): string {
  return table(
    ['ID', 'TENANT', 'TYPE', 'STATE', 'ATTEMPTS', 'CREATED', 'FINISHED', 'ERROR'],
    rows.map((r) => [
      r.id,
      r.tenant_id,
      r.type,
      r.state,
      `${r.attempts}/${r.max_attempts}`,
      time(r.created_at),
      time(r.finished_at),
      oneLine(r.error, 60),
    ]),
  );
}

/** The runs given back without counting as attempts, when there were any. */
function uncounted(row: ActionRow): string {
  const runs = [
    row.throttles > 0 ? `${row.throttles} throttled runs` : '',
    row.outages > 0 ? `${row.outages} runs held back by an outage` : '',
  ].filter((s) => s !== '');
  return runs.length === 0 ? '' : ` (and ${runs.join(' and ')} not counted)`;
}

/** Every field of an action, one `name: value` per line. */
export function actionDetails(row: ActionRow): string {
  const fields: Array<[string, string]> = [
    ['id', row.id],
    ['tenant', row.tenant_id],
    ['type', `${row.type} (family ${row.family})`],
    ['state', row.state],
    ['attempts', `${row.attempts} of ${row.max_attempts}${uncounted(row)}`],
    ['priority', String(row.priority)],
    ['idempotency key', row.idempotency_key ?? '-'],
    ['args', safeJson(row.args)],
    ['not before', time(row.not_before)],
    ['expires', time(row.expires_at)],
    ['created', time(row.created_at)],
    ['queued', time(row.queued_at)],
    ['started', time(row.started_at)],
    ['finished', time(row.finished_at)],
    ['worker', row.worker ?? '-'],
    ['result', row.result === null ? '-' : safeJson(row.result)],
    ['error', row.error ?? '-'],
  ];
  return fields.map(([k, v]) => `${`${k}:`.padEnd(17)}${printable(v)}\n`).join('');
}

/** The life of an action: at, from → to, actor, reason. */
export function eventsTable(events: readonly ActionEvent[]): string {
  return table(
    ['AT', 'TRANSITION', 'ACTOR', 'REASON'],
    events.map((e) => [time(e.at), `${e.from_state ?? '(new)'} → ${e.to_state}`, e.actor, oneLine(e.reason, 200)]),
  );
}

/** `<id> <state>`, then the result as JSON (when there is one), then `error: ...` (when there is one). */
export function outcome(row: ActionRow): string {
  let text = `${row.id} ${row.state}\n`;
  if (row.result !== null && row.result !== undefined) text += `${safeJson(row.result)}\n`;
  if (row.error !== null) text += `error: ${printable(row.error)}\n`;
  return text;
}
