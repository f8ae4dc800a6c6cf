import { type ControlReply, type ControlResult, type PausedBy, describeProcess } from '@cmq/actions';
import { oneLine, table } from './format';
import type { ProcessBeat } from './redis-state';

/** `control by cli:ops@h2 at <ISO>, guest by ...`, or `-`. */
export function pausedText(paused: Partial<Record<string, PausedBy>>): string {
  const parts = Object.entries(paused).map(([f, m]) => `${f} by ${m?.by ?? '?'} at ${m?.at ?? '?'}`);
  return parts.length === 0 ? '-' : oneLine(parts.join(', '), 500);
}

/** `cmq workers list`: the live processes (heartbeats), with the families each consumes and those paused. */
export function beatsTable(beats: readonly ProcessBeat[]): string {
  const rows = beats.map((b) => [
    b.service,
    oneLine(b.name, 100),
    oneLine(b.host, 100),
    String(b.pid),
    b.state || '-',
    b.queues.join(',') || '-',
    pausedText(b.paused),
  ]);
  return `${table(['SERVICE', 'NAME', 'HOST', 'PID', 'STATE', 'CONSUMING', 'PAUSED'], rows)}`;
}

/** `cmq workers ping`: who answered. */
export function identitiesTable(replies: readonly ControlReply[]): string {
  const rows = replies.map(({ identity: i }) => [
    i.service,
    oneLine(i.name, 100),
    oneLine(i.host, 100),
    String(i.pid),
    oneLine(i.version, 40),
    i.state,
    i.queues.join(',') || '-',
    pausedText(i.paused),
  ]);
  return table(['SERVICE', 'NAME', 'HOST', 'PID', 'VERSION', 'STATE', 'CONSUMING', 'PAUSED'], rows);
}

/** One line per reply: `subscriber a@h1:123: done (control paused)`. */
export function outcomeLines(replies: readonly ControlReply[]): string {
  return replies.map((r) => `${describeProcess(r.identity)}: ${r.outcome} (${oneLine(r.detail, 300)})\n`).join('');
}

/** The live processes the target matched that did not answer, and replies that could not be read. */
export function silenceLines(result: ControlResult, silent: readonly ProcessBeat[]): string {
  const lines = silent.map((b) => `${describeProcess(b)}: no reply (live heartbeat, state ${b.state || '-'})\n`);
  for (const u of result.unreadable) lines.push(`unreadable reply: ${oneLine(u, 300)}\n`);
  return lines.join('');
}
