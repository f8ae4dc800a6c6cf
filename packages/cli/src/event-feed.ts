import { FINAL_STATES } from '@cmq/common';
import type { FeedEvent } from '@cmq/actions';
import { duration } from './durations';
import { oneLine, printable } from './format';

/** How long the action took, for a final event: from its start (or creation) to this event. */
function took(e: FeedEvent): string {
  if (!(FINAL_STATES as readonly string[]).includes(e.to_state)) return '';
  const from = e.started_at ?? e.created_at;
  return from === null ? '' : ` in ${duration(e.at.getTime() - from.getTime())}`;
}

/** `TIME TENANT TYPE ID from → to by ACTOR [in DURATION] [: reason]`, one line. */
export function eventLine(e: FeedEvent): string {
  const reason = e.reason === null || e.reason === '' ? '' : `: ${oneLine(e.reason, 120)}`;
  return printable(
    `${e.at.toISOString()} ${e.tenant_id ?? '?'} ${e.type ?? '?'} ${e.action_id} ${e.from_state ?? '(new)'} → ${e.to_state} by ${e.actor}${took(e)}${reason}`,
  );
}
