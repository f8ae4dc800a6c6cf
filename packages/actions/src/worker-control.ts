import { randomUUID } from 'node:crypto';
import {
  type AmqpClient,
  Exchanges,
  FAMILIES,
  type Family,
  SERVICES,
  type ServiceName,
  errorText,
  requestReplies,
  workerControlKey,
} from '@cmq/common';
import { z } from 'zod';
import type { AuditOutcome } from './audit';
import { oneLine } from './text';

/**
 * Worker control: commands sent to running processes over `cmq.control`, and their replies.
 * One home for the protocol: the CLI (`cmq workers`), the console and the autoscaler send with
 * {@link sendControl}; the subscriber's control listener parses with {@link parseControlMessage}
 * and answers with a {@link ControlReply}. See docs/worker-control.md.
 */

/** Version of the message format; a message of another version is ignored (malformed). */
export const CONTROL_VERSION = 1;
/** A control message or reply larger than this is malformed (a command fits in a few hundred bytes). */
export const CONTROL_MAX_BYTES = 16 * 1024;

const text = (max: number) => z.string().min(1).max(max);

/** Whom a message is for: every field given must match (all absent: every process of the service). */
export const controlTargetSchema = z.strictObject({
  service: z.enum(SERVICES).optional(),
  name: text(200).optional(),
  host: text(255).optional(),
  pid: z.number().int().positive().optional(),
});
export type ControlTarget = z.infer<typeof controlTargetSchema>;

const family = z.enum(FAMILIES);
export const controlCommandSchema = z.discriminatedUnion('command', [
  z.strictObject({ command: z.literal('drain') }),
  z.strictObject({ command: z.literal('ping') }),
  z.strictObject({ command: z.literal('pause'), family }),
  z.strictObject({ command: z.literal('resume'), family }),
]);
/** `drain`: stop as on SIGTERM. `pause`/`resume`: stop or restart consuming one family. `ping`: say who you are. */
export type ControlCommand = z.infer<typeof controlCommandSchema>;
export const CONTROL_COMMANDS = ['drain', 'pause', 'resume', 'ping'] as const;

const envelope = z.strictObject({
  v: z.literal(CONTROL_VERSION),
  id: text(100),
  /** Who sent it: `cli:<user>@<host>`, `console:<user>`, `publisher:<name>@<host>` (autoscaler). */
  actor: text(200),
  sent_at: z.iso.datetime(),
  target: controlTargetSchema,
  command: controlCommandSchema,
});
export type ControlMessage = z.infer<typeof envelope>;

/** A family paused on a process: who paused it and when (ISO). */
export interface PausedBy {
  by: string;
  at: string;
}

const identitySchema = z.object({
  service: z.string(),
  name: z.string(),
  host: z.string(),
  pid: z.number().int(),
  version: z.string(),
  /** Lifecycle state: `starting`, `running`, `draining`. */
  state: z.string(),
  /** Families it consumes now (paused ones left out). */
  queues: z.array(z.string()),
  paused: z.record(z.string(), z.object({ by: z.string(), at: z.string() })),
});
/** Who a process is, as it says in every reply. */
export type WorkerIdentity = z.infer<typeof identitySchema>;

/** `done`: obeyed now. `unchanged`: already so (paused, draining). `refused`: cannot (does not consume that family). */
export const CONTROL_OUTCOMES = ['done', 'unchanged', 'refused'] as const;
const replySchema = z.object({
  v: z.literal(CONTROL_VERSION),
  id: z.string(),
  command: z.enum(CONTROL_COMMANDS),
  outcome: z.enum(CONTROL_OUTCOMES),
  detail: z.string(),
  identity: identitySchema,
});
export type ControlReply = z.infer<typeof replySchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function parseJson<T>(content: Buffer, schema: z.ZodType<T>, what: string): Parsed<T> {
  if (content.length > CONTROL_MAX_BYTES)
    return { ok: false, error: `${what} of ${content.length} bytes (at most ${CONTROL_MAX_BYTES})` };
  let json: unknown;
  try {
    json = JSON.parse(content.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `${what} is not JSON: ${errorText(err)}` };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data };
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
  return { ok: false, error: `${what}: ${issues.slice(0, 5).join('; ')}` };
}

/** A control message as received: its fields, or what is wrong with it (never throws). */
export function parseControlMessage(content: Buffer): Parsed<ControlMessage> {
  return parseJson(content, envelope, 'control message');
}

/** A reply as received (never throws). */
export function parseControlReply(content: Buffer): Parsed<ControlReply> {
  return parseJson(content, replySchema, 'control reply');
}

/** Whether `target` names the process `who` (every field it gives matches). */
export function targetMatches(
  target: ControlTarget,
  who: Pick<WorkerIdentity, 'service' | 'name' | 'host' | 'pid'>,
): boolean {
  return (
    (target.service === undefined || target.service === who.service) &&
    (target.name === undefined || target.name === who.name) &&
    (target.host === undefined || target.host === who.host) &&
    (target.pid === undefined || target.pid === who.pid)
  );
}

/** `subscriber a@h1:123`, `subscriber a`, `every subscriber`: a target as a person reads it. */
export function describeTarget(target: ControlTarget): string {
  const service = target.service ?? 'subscriber';
  const where = `${target.name ?? ''}${target.host === undefined ? '' : `@${target.host}`}${target.pid === undefined ? '' : `:${target.pid}`}`;
  return where === '' ? `every ${service}` : `${service} ${where}`;
}

/** `pause control`, `drain`: a command as a person reads it. */
export function describeCommand(command: ControlCommand): string {
  return 'family' in command ? `${command.command} ${command.family}` : command.command;
}

/** Builds a control message (a fresh id, sent now). */
export function controlMessage(target: ControlTarget, command: ControlCommand, actor: string): ControlMessage {
  return { v: CONTROL_VERSION, id: randomUUID(), actor, sent_at: new Date().toISOString(), target, command };
}

export interface SendControlOptions {
  /** Who sends it (recorded by every process that obeys, and in its pause marks). */
  actor: string;
  /** How long to wait for replies, ms (default 2,000). */
  timeoutMs?: number;
  /** Stop waiting once this many replies came (e.g. the live processes the target matches). */
  expected?: number;
}

export interface ControlResult {
  message: ControlMessage;
  /** Valid replies, in arrival order. */
  replies: ControlReply[];
  /** Replies that could not be read (a process of another version, say): what was wrong. */
  unreadable: string[];
}

/**
 * Sends `command` to the processes `target` names and collects their replies for
 * `timeoutMs` (or until `expected` came). A process that is not running, or not listening,
 * does not reply: compare with the live heartbeats. A `ping` expires in the broker with the
 * wait; the other commands do not (a process busy for a moment still obeys).
 * @throws CmqError `CMQ_ERR_BROKER_UNAVAILABLE` when `client` is not connected or the broker
 * does not confirm the message.
 */
export async function sendControl(
  client: AmqpClient,
  target: ControlTarget,
  command: ControlCommand,
  opts: SendControlOptions,
): Promise<ControlResult> {
  const parsed = controlTargetSchema.safeParse(target);
  if (!parsed.success) throw new TypeError(`bad control target: ${parsed.error.message}`);
  const message = controlMessage(parsed.data, command, opts.actor);
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const service: ServiceName = target.service ?? 'subscriber';
  const bodies = await requestReplies(
    client,
    Exchanges.control,
    workerControlKey(service),
    Buffer.from(JSON.stringify(message)),
    {
      correlationId: message.id,
      timeoutMs,
      expected: opts.expected,
      expirationMs: command.command === 'ping' ? timeoutMs : undefined,
    },
  );
  const replies: ControlReply[] = [];
  const unreadable: string[] = [];
  for (const body of bodies) {
    const r = parseControlReply(body);
    if (r.ok) replies.push(r.value);
    else unreadable.push(r.error);
  }
  return { message, replies, unreadable };
}

/** `ping` to the processes `target` names: who they are (see {@link sendControl}). */
export async function pingWorkers(
  client: AmqpClient,
  target: ControlTarget,
  opts: SendControlOptions,
): Promise<ControlResult> {
  return sendControl(client, target, { command: 'ping' }, opts);
}

/** A process as a heartbeat or a reply names it. */
export type ProcessAddress = Pick<WorkerIdentity, 'service' | 'name' | 'host' | 'pid'>;

/** `subscriber a@h1:123`: one process as a person reads it (one line, escaped). */
export function describeProcess(p: ProcessAddress): string {
  return oneLine(`${p.service} ${p.name}@${p.host}:${p.pid}`, 300);
}

/** Those of `live` (the heartbeats the target matched) that did not reply. */
export function silentProcesses<P extends ProcessAddress>(result: ControlResult, live: readonly P[]): P[] {
  const answered = new Set(result.replies.map((r) => `${r.identity.host}:${r.identity.pid}`));
  return live.filter((b) => !answered.has(`${b.host}:${b.pid}`));
}

/** What `audit_log` records as the outcome of a control command. */
export type ControlOutcome = Extract<AuditOutcome, 'ok' | 'failed' | 'refused'>;

/**
 * The outcome of a control command: `refused` when a process refused it; `failed` when none
 * answered or a live process the target names stayed silent; else `ok`.
 */
export function controlOutcome(result: ControlResult, silent: readonly ProcessAddress[]): ControlOutcome {
  if (result.replies.some((r) => r.outcome === 'refused')) return 'refused';
  return result.replies.length === 0 || silent.length > 0 ? 'failed' : 'ok';
}

/** A control command as `audit_log` records it (its actor and address aside), from `cmq workers` and the console alike. */
export interface ControlAudit {
  action: string;
  target: string;
  outcome: ControlOutcome;
  detail: {
    control_id: string;
    command: string;
    target: ControlTarget;
    replies: Array<{ who: string; outcome: ControlReply['outcome']; detail: string }>;
    silent: string[];
  };
}

/** The audit row of a command sent (see {@link ControlAudit}): who answered what, and who stayed silent. */
export function controlAudit(result: ControlResult, silent: readonly ProcessAddress[]): ControlAudit {
  const m = result.message;
  return {
    action: `workers.${m.command.command}`,
    target: describeTarget(m.target),
    outcome: controlOutcome(result, silent),
    detail: {
      control_id: m.id,
      command: describeCommand(m.command),
      target: m.target,
      replies: result.replies.map((r) => ({ who: describeProcess(r.identity), outcome: r.outcome, detail: r.detail })),
      silent: silent.map(describeProcess),
    },
  };
}

/** The families a heartbeat's `paused` field names, with who paused each and when ('' or unreadable: none). */
export function pausedFamilies(field: string | undefined): Partial<Record<Family, PausedBy>> {
  if (field === undefined || field === '') return {};
  try {
    const r = identitySchema.shape.paused.safeParse(JSON.parse(field));
    if (!r.success) return {};
    return Object.fromEntries(Object.entries(r.data).filter(([f]) => (FAMILIES as readonly string[]).includes(f)));
  } catch {
    return {};
  }
}
