/** Nagios plugin output, parsed strictly: one status line, `CMQ WORD - text[ | perfdata]`. */
export interface NagiosOutput {
  word: 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
  text: string;
  perf: Record<string, { value: string; uom: string; warn: string; crit: string; min: string; max: string }>;
}

const STATUS_RE = /^CMQ (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+?)(?: \| ([^|\n]+))?$/;
/** `label=value[UOM];warn;crit;min;max` (value `U` when it cannot be determined). */
const PERF_RE =
  /^([A-Za-z_][A-Za-z0-9_]*)=(U|-?\d+(?:\.\d+)?)(s|ms|us|%|B|KB|MB|TB|c)?;((?:\d+(?:\.\d+)?)?:?(?:\d+(?:\.\d+)?)?);((?:\d+(?:\.\d+)?)?:?(?:\d+(?:\.\d+)?)?);(-?\d*(?:\.\d+)?);(-?\d*(?:\.\d+)?)$/;

/** Throws when `stdout` is not exactly one well-formed status line with well-formed perfdata. */
export function parseNagios(stdout: string): NagiosOutput {
  const lines = stdout.split('\n');
  if (lines.length !== 2 || lines[1] !== '') throw new Error(`not exactly one line: ${JSON.stringify(stdout)}`);
  const m = STATUS_RE.exec(lines[0] ?? '');
  if (m === null) throw new Error(`not a Nagios status line: ${lines[0]}`);
  const perf: NagiosOutput['perf'] = {};
  for (const item of (m[3] ?? '').split(' ').filter((s) => s !== '')) {
    const p = PERF_RE.exec(item);
    if (p === null) throw new Error(`not a perfdata item: ${item}`);
    perf[p[1] as string] = {
      value: p[2] as string,
      uom: p[3] ?? '',
      warn: p[4] as string,
      crit: p[5] as string,
      min: p[6] as string,
      max: p[7] as string,
    };
  }
  return { word: m[1] as NagiosOutput['word'], text: m[2] as string, perf };
}
