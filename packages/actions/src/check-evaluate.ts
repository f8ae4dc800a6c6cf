import type { Family } from '@cmq/common';
import type { PingerConfig } from '@cmq/config';
import { type FamilyHealth, type WaitingProcess, consumesQueues } from './health';
import type { StoredSummary } from './pinger-summary';
import type { ProcessBeat } from './process-beats';
import { oneLine } from './text';

/** What `cmq check` (and the console's verdict) compares against: times in ms, ages in seconds (as the summary has them). */
export interface CheckThresholds {
  canaryWarningMs: number;
  canaryCriticalMs: number;
  oldestWarningS: number;
  oldestCriticalS: number;
  summaryMaxAgeMs: number;
  pingerIntervalMs: number;
}

/** The thresholds pinger.properties sets (its `check.*` keys and `pinger.interval`). */
export function checkThresholdsOf(pinger: PingerConfig): CheckThresholds {
  return {
    canaryWarningMs: pinger.check.canary_warning,
    canaryCriticalMs: pinger.check.canary_critical,
    oldestWarningS: pinger.check.oldest_warning / 1000,
    oldestCriticalS: pinger.check.oldest_critical / 1000,
    summaryMaxAgeMs: pinger.check.summary_max_age,
    pingerIntervalMs: pinger.pinger.interval,
  };
}

/** Nagios plugin states, in increasing severity of the exit status. */
export const NagiosState = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type NagiosCode = (typeof NagiosState)[keyof typeof NagiosState];
export const NAGIOS_WORDS = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface CheckInput {
  families: readonly Family[];
  summary: StoredSummary | undefined;
  beats: readonly ProcessBeat[];
  /** Why PostgreSQL could not be reached, or undefined when it answered. */
  postgresError: string | undefined;
  thresholds: CheckThresholds;
  now: number;
}

export interface CheckResult {
  code: NagiosCode;
  text: string;
  perfdata: string[];
}

interface Problem {
  code: NagiosCode;
  text: string;
}

/** Seconds for perfdata and messages: `0.012`, `2`, `10.5`. */
function secs(ms: number): string {
  return String(Math.round(ms) / 1000);
}

/** Live subscribers per family: processes whose heartbeat (still in Redis) lists the family and that consume (see consumesQueues). */
export function consumersOf(beats: readonly ProcessBeat[], family: Family): number {
  return beats.filter((b) => consumesQueues(b) && b.queues.includes(family)).length;
}

function summaryProblems(input: CheckInput, s: StoredSummary): Problem[] {
  const t = input.thresholds;
  const problems: Problem[] = [];
  for (const [dep, health] of Object.entries(s.dependencies)) {
    if (health !== undefined && !health.ok)
      problems.push({ code: 2, text: `${dep} down (pinger ${s.pinger}: ${health.error ?? 'no answer'})` });
  }
  for (const f of input.families) {
    const h = s.families[f];
    if (h === undefined) continue;
    const lat = h.canary.latency_ms;
    if (h.canary.state === 'lost') problems.push({ code: 2, text: `canary lost on ${f}` });
    else if (lat !== null && lat > t.canaryCriticalMs)
      problems.push({ code: 2, text: `canary ${f} ${secs(lat)}s (critical ${secs(t.canaryCriticalMs)}s)` });
    else if (lat !== null && lat > t.canaryWarningMs)
      problems.push({ code: 1, text: `canary ${f} ${secs(lat)}s (warning ${secs(t.canaryWarningMs)}s)` });
    else if (h.canary.state === 'late') problems.push({ code: 1, text: `canary late on ${f}` });
    const age = h.oldest_age_s;
    if (age !== null && age > t.oldestCriticalS)
      problems.push({
        code: 2,
        text: `oldest ${f} action waiting ${Math.round(age)}s (critical ${t.oldestCriticalS}s)`,
      });
    else if (age !== null && age > t.oldestWarningS)
      problems.push({ code: 1, text: `oldest ${f} action waiting ${Math.round(age)}s (warning ${t.oldestWarningS}s)` });
  }
  return problems;
}

/** Each waiting text is cut to this many characters; at most this many texts, each naming at most this many processes. */
const WAITING_TEXT_MAX = 200;
const WAITING_TEXTS_MAX = 5;
const WAITING_NAMES_MAX = 3;

/**
 * A WARNING per thing processes wait for: `publisher main@host1: broker blocked publishing: low
 * on memory`. Processes waiting for the same thing share one (`subscriber a@h1, subscriber b@h2
 * and 4 more: waiting for broker at ...`), and past {@link WAITING_TEXTS_MAX} texts the rest are
 * counted, so that the line stays short enough for Nagios to keep the perfdata.
 */
function waitingProblems(
  waiting: ReadonlyArray<Pick<WaitingProcess, 'service' | 'name' | 'host' | 'waiting'>>,
): Problem[] {
  const byText = new Map<string, string[]>();
  for (const w of waiting) {
    if (w.waiting === '') continue;
    const text = oneLine(w.waiting, WAITING_TEXT_MAX);
    const names = byText.get(text) ?? [];
    const who = `${w.service} ${w.name}@${w.host}`;
    if (!names.includes(who)) names.push(who);
    byText.set(text, names);
  }
  const texts = [...byText].map(([text, names]) => {
    const shown =
      names.length <= WAITING_NAMES_MAX
        ? names.join(', ')
        : `${names.slice(0, WAITING_NAMES_MAX - 1).join(', ')} and ${names.length - WAITING_NAMES_MAX + 1} more`;
    return `${oneLine(shown, WAITING_TEXT_MAX)}: ${text}`;
  });
  const kept =
    texts.length <= WAITING_TEXTS_MAX
      ? texts
      : [...texts.slice(0, WAITING_TEXTS_MAX - 1), `${texts.length - WAITING_TEXTS_MAX + 1} more waiting (cmq status)`];
  return kept.map((text) => ({ code: 1, text }));
}

/**
 * A WARNING per paused family: `control paused on subscriber a@h1 by cli:ops@h2 at <ISO>`.
 * The live heartbeats say it (a pause lives in the process, not in the pinger's summary).
 */
function pausedProblems(beats: readonly ProcessBeat[]): Problem[] {
  return beats.flatMap((b) =>
    Object.entries(b.paused).map(([family, mark]) => ({
      code: 1,
      text: `${family} paused on ${b.service} ${oneLine(`${b.name}@${b.host}`, WAITING_TEXT_MAX)} by ${oneLine(mark?.by ?? '?', WAITING_TEXT_MAX)} at ${mark?.at ?? '?'}`,
    })),
  );
}

/** ` (1 subscriber starting, 2 subscribers draining)`: those of `families` that do not consume (yet, or any more); '' when none. */
function idleSubscribers(beats: readonly ProcessBeat[], families: readonly Family[]): string {
  const byState = new Map<string, number>();
  for (const b of beats) {
    if (b.service === 'subscriber' && !consumesQueues(b) && families.some((f) => b.queues.includes(f)))
      byState.set(b.state, (byState.get(b.state) ?? 0) + 1);
  }
  const parts = [...byState].map(([state, n]) => `${n} ${n === 1 ? 'subscriber' : 'subscribers'} ${state}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

function problemsOf(input: CheckInput): Problem[] {
  const problems: Problem[] = pausedProblems(input.beats);
  const orphans = input.families.filter((f) => consumersOf(input.beats, f) === 0);
  if (orphans.length > 0)
    problems.push({
      code: 2,
      text: `no live subscriber consumes ${orphans.join(', ')}${idleSubscribers(input.beats, orphans)}`,
    });
  if (input.postgresError !== undefined)
    problems.push({ code: 2, text: `PostgreSQL unreachable: ${input.postgresError}` });
  const s = input.summary;
  // Without a fresh summary, the live heartbeats say who waits for what.
  const beatsWaiting = (): Problem[] => waitingProblems(input.beats);
  if (s === undefined)
    return [...problems, { code: 2, text: 'no pinger summary in redis: is a pinger running?' }, ...beatsWaiting()];
  const age = input.now - Date.parse(s.at);
  const maxAge = input.thresholds.summaryMaxAgeMs;
  // A stale summary says nothing about now: only its age is reported (and who waits, from the heartbeats).
  if (age > maxAge)
    return [
      ...problems,
      {
        code: 2,
        text: `pinger summary is ${Math.round(age / 1000)}s old (check.summary_max_age ${secs(maxAge)}s): is the pinger running?`,
      },
      ...beatsWaiting(),
    ];
  return [...problems, ...summaryProblems(input, s), ...waitingProblems(s.waiting)];
}

function perfItem(label: string, value: string, warn = '', crit = '', min = '0', max = ''): string {
  return `${label}=${value};${warn};${crit};${min};${max}`;
}

function familyPerf(f: Family, h: FamilyHealth | undefined, n: number, t: CheckThresholds): string[] {
  const lat = h?.canary.latency_ms ?? null;
  const age = h?.oldest_age_s ?? null;
  return [
    perfItem(`canary_${f}`, lat === null ? 'U' : `${secs(lat)}s`, secs(t.canaryWarningMs), secs(t.canaryCriticalMs)),
    perfItem(`backlog_${f}`, h === undefined ? 'U' : String(h.backlog)),
    perfItem(
      `oldest_${f}`,
      age === null ? (h === undefined ? 'U' : '0s') : `${Math.round(age)}s`,
      String(t.oldestWarningS),
      String(t.oldestCriticalS),
    ),
    perfItem(`subscribers_${f}`, String(n), '', '1:'),
  ];
}

function okText(input: CheckInput): string {
  const consumers = input.families.map((f) => `${f} ${consumersOf(input.beats, f)}`).join(', ');
  const lats = input.families
    .map((f) => input.summary?.families[f]?.canary.latency_ms ?? null)
    .filter((l): l is number => l !== null);
  const canaries = lats.length === 0 ? 'no canary latency yet' : `canaries ok (slowest ${secs(Math.max(...lats))}s)`;
  return `live subscribers: ${consumers}; ${canaries}`;
}

/**
 * The verdict: the worst problem decides the state; every problem is named, worst first, so a
 * process waiting for something (a WARNING by itself) is still named after a CRITICAL one.
 */
export function evaluate(input: CheckInput): CheckResult {
  const problems = problemsOf(input).sort((a, b) => b.code - a.code);
  const code: NagiosCode = problems[0]?.code ?? NagiosState.OK;
  const text = problems.length === 0 ? okText(input) : problems.map((p) => p.text).join('; ');
  const perfdata = input.families.flatMap((f) =>
    familyPerf(f, input.summary?.families[f], consumersOf(input.beats, f), input.thresholds),
  );
  perfdata.push(perfItem('dead', input.summary === undefined ? 'U' : String(input.summary.dead_last_interval)));
  return { code, text, perfdata };
}

/** The plugin's one output line: `CMQ WORD - text | perfdata` (`|` kept out of the text). */
export function statusLine(code: NagiosCode, text: string, perfdata: readonly string[] = []): string {
  const flat = text.replace(/[|\r\n]+/g, ' ').trim();
  return `CMQ ${NAGIOS_WORDS[code]} - ${flat}${perfdata.length === 0 ? '' : ` | ${perfdata.join(' ')}`}\n`;
}
