/** Probes: a status command run on a host, and the parser that turns its output into records. */
export const PROBES = ['pbs-qstat', 'ipmi-sensor', 'command'] as const;
export type ProbeName = (typeof PROBES)[number];

/** A line the parser did not understand: kept verbatim (with a warning), never thrown away. */
export interface RawRecord {
  raw: string;
}

export interface QstatQueue {
  queue: string;
  max: number;
  total: number;
  enabled: boolean;
  started: boolean;
  queued: number;
  running: number;
  held: number;
  waiting: number;
  transit: number;
  exiting: number;
  type: string;
}

export type IpmiThreshold = 'lnr' | 'lcr' | 'lnc' | 'unc' | 'ucr' | 'unr';

export interface IpmiSensor {
  name: string;
  /** null when ipmitool prints `na`; discrete sensors' hex values (0x1) are read as numbers. */
  value: number | null;
  unit: string;
  status: string;
  thresholds: Record<IpmiThreshold, number | null>;
}

export interface ProbeParse<R> {
  records: Array<R | RawRecord>;
  warnings: string[];
}

/** The command a probe runs; `command` runs the one given in the action. */
export const PROBE_COMMANDS: Readonly<Record<Exclude<ProbeName, 'command'>, string>> = {
  'pbs-qstat': 'qstat -Q',
  'ipmi-sensor': 'ipmitool sensor',
};

function lines(output: string): string[] {
  return output.split(/\r?\n/).filter((l) => l.trim() !== '');
}

const COUNT_RE = /^\d+$/;
const YES_NO: Readonly<Record<string, boolean>> = { yes: true, no: false };

function qstatLine(line: string): QstatQueue | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length !== 12) return undefined;
  const [queue = '', max, total, ena = '', str = '', queued, running, held, waiting, transit, exiting, type = ''] = f;
  const counts = [max, total, queued, running, held, waiting, transit, exiting];
  if (!counts.every((c) => c !== undefined && COUNT_RE.test(c))) return undefined;
  const enabled = YES_NO[ena.toLowerCase()];
  const started = YES_NO[str.toLowerCase()];
  if (enabled === undefined || started === undefined) return undefined;
  const [mx, tot, que, run, hld, wat, trn, ext] = counts.map((c) => Number(c));
  return {
    queue,
    max: mx ?? 0,
    total: tot ?? 0,
    enabled,
    started,
    queued: que ?? 0,
    running: run ?? 0,
    held: hld ?? 0,
    waiting: wat ?? 0,
    transit: trn ?? 0,
    exiting: ext ?? 0,
    type,
  };
}

/** `qstat -Q` (PBS/Torque queue summary): one record per queue; header and dashes skipped. */
export function parseQstatQ(output: string): ProbeParse<QstatQueue> {
  const records: Array<QstatQueue | RawRecord> = [];
  const warnings: string[] = [];
  for (const line of lines(output)) {
    if (/^Queue\s+Max\s+Tot/i.test(line.trim()) || /^[-\s]+$/.test(line)) continue;
    const rec = qstatLine(line);
    if (rec !== undefined) records.push(rec);
    else {
      records.push({ raw: line });
      warnings.push(`pbs-qstat: line ${records.length} not understood: ${line.slice(0, 200)}`);
    }
  }
  return { records, warnings };
}

const THRESHOLDS: readonly IpmiThreshold[] = ['lnr', 'lcr', 'lnc', 'unc', 'ucr', 'unr'];

/** A number, null for `na`, undefined for anything else. */
function ipmiNumber(text: string): number | null | undefined {
  if (text === 'na' || text === '') return null;
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text, 16);
  if (/^[-+]?\d+(\.\d+)?$/.test(text)) return Number(text);
  return undefined;
}

/** `-c` output is comma-separated without padding; plain output pads pipe-separated columns. */
function ipmiFields(line: string): string[] {
  return line.split(line.includes('|') ? '|' : ',').map((s) => s.trim());
}

function ipmiLine(line: string): IpmiSensor | undefined {
  const f = ipmiFields(line);
  if (f.length !== 10) return undefined;
  const [name = '', valueText = '', unit = '', status = '', ...limits] = f;
  const value = ipmiNumber(valueText);
  const numbers = limits.map(ipmiNumber);
  if (name === '' || value === undefined || numbers.some((n) => n === undefined)) return undefined;
  const thresholds = Object.fromEntries(THRESHOLDS.map((t, i) => [t, numbers[i] ?? null])) as Record<
    IpmiThreshold,
    number | null
  >;
  return { name, value, unit, status, thresholds };
}

/**
 * `ipmitool sensor` (pipe-separated, padded) or `ipmitool -c sensor` (CSV): name, value, unit,
 * status (`ok`, `nc`, `cr`, `nr`; `ns` no reading), then the thresholds lnr, lcr, lnc, unc, ucr,
 * unr (`na`: not set). The one parser of both host.probe (over SSH) and ipmi.sensors (lanplus).
 */
export function parseIpmiSensor(output: string): ProbeParse<IpmiSensor> {
  const records: Array<IpmiSensor | RawRecord> = [];
  const warnings: string[] = [];
  for (const line of lines(output)) {
    const rec = ipmiLine(line);
    if (rec !== undefined) records.push(rec);
    else {
      records.push({ raw: line });
      warnings.push(`ipmi-sensor: line ${records.length} not understood: ${line.slice(0, 200)}`);
    }
  }
  return { records, warnings };
}

/** `command`: the raw output, one record. */
export function parseCommand(output: string): ProbeParse<{ output: string }> {
  return { records: [{ output }], warnings: [] };
}

/** The parser of `probe`; never throws on odd output. */
export function parseProbe(probe: ProbeName, output: string): ProbeParse<unknown> {
  if (probe === 'pbs-qstat') return parseQstatQ(output);
  if (probe === 'ipmi-sensor') return parseIpmiSensor(output);
  return parseCommand(output);
}
