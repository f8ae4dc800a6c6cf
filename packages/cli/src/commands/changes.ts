import { type ResourceKind, listChanges } from '@cmq/actions';
import { type Command, InvalidArgumentError } from 'commander';
import { withDatabase } from '../cli-db';
import { type Env } from '../config-set';
import { jsonLines } from '../format';
import { positiveInt, withConfigDir } from '../options';
import { accountId, changesTable, resourceKind } from './resources-format';
import { tenantFailure } from './resources';

interface ChangesOpts {
  configDir?: string;
  tenant: string;
  since?: Date;
  kind?: ResourceKind;
  account?: string;
  limit: number;
  json?: boolean;
}

const ISO_RE = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/;

/** Commander parser: an ISO 8601 date or time (`2024-05-01`, `2024-05-01T12:00:00Z`). */
function isoTime(value: string): Date {
  const d = new Date(value);
  if (!ISO_RE.test(value) || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('must be an ISO 8601 date or time, e.g. 2024-05-01T12:00:00Z');
  return d;
}

/** `cmq changes --tenant T [--since ISO] [--kind K] [--account A] [--limit N] [--json]`: what syncs saw appear, change and go. */
export function registerChangesCommand(program: Command, env: Env): void {
  withConfigDir(
    program
      .command('changes')
      .description("changes of a tenant's cloud resources seen by syncs (created, changed fields, gone), oldest first"),
  )
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option(
      '--since <iso>',
      'only changes after this time (then the first --limit after it; without it, the latest --limit)',
      isoTime,
    )
    .option('--kind <kind>', 'server, firewall, volume or budget', resourceKind)
    .option('--account <id>', 'only this account', accountId)
    .option('--limit <n>', 'most changes shown', positiveInt(100_000), 100)
    .option('--json', 'one JSON object per change')
    .action(async (opts: ChangesOpts) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) =>
        listChanges(sql, {
          tenant: opts.tenant,
          since: opts.since,
          kind: opts.kind,
          account: opts.account,
          limit: opts.limit,
        }),
      ).catch(tenantFailure);
      if (opts.json === true) {
        process.stdout.write(jsonLines(rows));
        return;
      }
      process.stdout.write(
        rows.length === 0
          ? `no resource changes for tenant ${opts.tenant}${opts.since === undefined ? '' : ` since ${opts.since.toISOString()}`}\n`
          : changesTable(rows),
      );
    });
}
