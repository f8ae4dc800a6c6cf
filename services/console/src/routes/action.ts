import { type ActionEvent, type ActionRow, actionEvents, getAction, isRowId } from '@cmq/actions';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { visible } from '../scope';
import { type TenantLogLine, actionLogLines } from '../tenant-log';

/** An event of the timeline with how long the action stayed in the state it entered. */
export interface TimelineEvent extends ActionEvent {
  /** Until the next event (or now, for the last event of an unfinished action); null for a final one. */
  duration_ms: number | null;
}

export interface ActionDetail {
  action: ActionRow;
  events: TimelineEvent[];
  logs: TenantLogLine[];
  /** Bytes at the start of the tenant log not read (only its last TAIL_BYTES are); 0: all read. */
  logs_skipped_bytes: number;
  /** Output of remote commands (stdout, stderr of SSH), shown as text. */
  output: Array<{ name: string; text: string }>;
  args_json: string;
  result_json: string;
}

const FINAL = new Set(['succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected']);

function timeline(events: ActionEvent[], now: number): TimelineEvent[] {
  return events.map((e, i) => {
    const next = events[i + 1];
    const end = next !== undefined ? next.at.getTime() : FINAL.has(e.to_state) ? null : now;
    return { ...e, duration_ms: end === null ? null : end - e.at.getTime() };
  });
}

/** stdout, stderr and output fields of the result (an SSH command's), as text. */
function outputOf(result: unknown): Array<{ name: string; text: string }> {
  if (typeof result !== 'object' || result === null) return [];
  return ['stdout', 'stderr', 'output']
    .map((name) => ({ name, value: (result as Record<string, unknown>)[name] }))
    .filter((o): o is { name: string; value: string } => typeof o.value === 'string' && o.value !== '')
    .map(({ name, value }) => ({ name, text: value }));
}

/** GET /actions/:id and /api/actions/:id: everything about one action (404 outside the principal's tenant). */
export function registerAction(app: FastifyInstance, ctx: ConsoleContext): void {
  view<ActionDetail>(app, '/actions/:id', 'action', 'Action', async (req: FastifyRequest) => {
    const { id } = req.params as { id: string };
    if (!isRowId(id)) return undefined;
    const sql = ctx.database.sql;
    const action = await getAction(sql, id);
    if (action === undefined || !visible(req, action.tenant_id)) return undefined;
    const [events, logs] = await Promise.all([
      actionEvents(sql, id),
      actionLogLines(ctx.config.own.log.dir, action.tenant_id, id),
    ]);
    return {
      action,
      events: timeline(events, Date.now()),
      logs: logs.lines,
      logs_skipped_bytes: logs.skipped,
      output: outputOf(action.result),
      args_json: JSON.stringify(action.args, null, 2),
      result_json: action.result === null ? '' : JSON.stringify(action.result, null, 2),
    };
  });
}
