import { latestProbeResults } from '@cmq/actions';
import type { Command } from 'commander';
import { type Env } from '../config-set';
import { withDatabase } from '../cli-db';
import { jsonLines, printable, safeJson } from '../format';
import { withConfigDir } from '../options';

/** jsonb keeps no key order: print fields in the order the probe's output has them. */
const FIELD_ORDER = [
  'queue',
  'name',
  'max',
  'total',
  'enabled',
  'started',
  'queued',
  'running',
  'held',
  'waiting',
  'transit',
  'exiting',
  'type',
  'value',
  'unit',
  'status',
  'thresholds',
  'lnr',
  'lcr',
  'lnc',
  'unc',
  'ucr',
  'unr',
  'raw',
  'output',
];

function rank(key: string): number {
  const i = FIELD_ORDER.indexOf(key);
  return i === -1 ? FIELD_ORDER.length : i;
}

function ordered(value: Record<string, unknown>): Array<[string, unknown]> {
  return Object.entries(value).sort(([a], [b]) => rank(a) - rank(b));
}

function recordLine(record: unknown): string {
  if (typeof record !== 'object' || record === null) return String(record);
  return ordered(record as Record<string, unknown>)
    .map(
      ([k, v]) =>
        `${k}=${typeof v === 'object' && v !== null ? safeJson(Object.fromEntries(ordered(v as Record<string, unknown>))) : String(v)}`,
    )
    .join(' ');
}

/** `cmq probes --tenant T --target X [--json]`: the latest result of each probe of a target. */
export function registerProbesCommand(program: Command, env: Env): void {
  withConfigDir(
    program
      .command('probes')
      .description('the latest host.probe (or ipmi.sensors) results of a target, one block per probe'),
  )
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--target <target>', 'guest id, or bmc-<account> for the ipmi.sensors of an ipmi account')
    .option('--json', 'one JSON object per probe')
    .action(async (opts: { configDir?: string; tenant: string; target: string; json?: boolean }) => {
      const results = await withDatabase(opts.configDir, env, ({ sql }) =>
        latestProbeResults(sql, opts.tenant, opts.target),
      );
      if (opts.json === true) {
        process.stdout.write(jsonLines(results));
        return;
      }
      const blocks = results.map((r) =>
        [
          `${r.probe} on ${r.target} at ${r.at} (exit ${r.exit_code ?? 'killed'}, ${r.records.length} records, ${r.warnings.length} warnings)`,
          ...r.records.map((rec) => `  ${recordLine(rec)}`),
          ...r.warnings.map((w) => `  warning: ${w}`),
        ].join('\n'),
      );
      // Records and warnings hold the host's raw output: control characters shown escaped.
      process.stdout.write(
        blocks.length === 0
          ? `no probe results for ${opts.target} of tenant ${opts.tenant}\n`
          : `${printable(blocks.join('\n\n'))}\n`,
      );
    });
}
