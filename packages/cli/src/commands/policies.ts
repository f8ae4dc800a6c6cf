import { readFileSync } from 'node:fs';
import {
  type DecisionRow,
  POLICY_FIELDS,
  type PolicyRow,
  addPolicy,
  getPolicy,
  listDecisions,
  listPolicies,
  setPolicy,
  setPolicyEnabled,
} from '@cmq/actions';
import { CmqError, FAMILIES } from '@cmq/common';
import type { Command } from 'commander';
import type { Env } from '../config-set';
import { CommandFailed, Exit, failure, usage } from '../command-error';
import { withDatabase } from '../cli-db';
import { jsonLines, oneLine, safeJson, table, time } from '../format';
import { positiveInt, withConfigDir } from '../options';
import { loadMode } from '../provisioning';

const LIST_FIELDS = new Set(['families', 'queues']);

/** `KEY=VALUE` pairs as policy fields: lists split on commas, numbers as numbers, the rest as text. */
export function policyFields(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw usage(`"${pair}": expected KEY=VALUE (keys: ${POLICY_FIELDS.join(', ')})`);
    const key = pair.slice(0, at);
    const value = pair.slice(at + 1);
    if (LIST_FIELDS.has(key)) out[key] = value === '' ? [] : value.split(',').map((v) => v.trim());
    else if (key !== 'account' && /^-?\d+(\.\d+)?$/.test(value)) out[key] = Number(value);
    else out[key] = value;
  }
  return out;
}

function fieldsOf(pairs: readonly string[], file: string | undefined): Record<string, unknown> {
  let base: Record<string, unknown> = {};
  if (file !== undefined) {
    try {
      base = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw failure(`--file ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ...base, ...policyFields(pairs) };
}

/** Runs a store call, turning CMQ_ERR_POLICY into exit 2 (invalid) or 1 (unknown, taken). */
async function policyCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_POLICY') throw err;
    const invalid = !/already exists|no policy|no account/.test(err.message);
    throw new CommandFailed(err.message, invalid ? Exit.REFUSED : Exit.FAILURE);
  }
}

function printPolicies(rows: readonly PolicyRow[], json: boolean | undefined): void {
  if (json === true) {
    process.stdout.write(jsonLines(rows));
    return;
  }
  const now = Date.now();
  const cells = rows.map((r) => [
    r.name,
    r.spec.families.join(','),
    r.account_id,
    `${r.spec.min}-${r.spec.max}`,
    r.enabled ? 'yes' : 'no',
    r.breaker_open_until !== null && r.breaker_open_until.getTime() > now
      ? `open until ${time(r.breaker_open_until)}`
      : `closed (${r.launch_failures} failures)`,
  ]);
  process.stdout.write(table(['POLICY', 'FAMILIES', 'ACCOUNT', 'SERVERS', 'ENABLED', 'BREAKER'], cells));
}

function printDecisions(rows: readonly DecisionRow[], json: boolean | undefined): void {
  if (json === true) {
    process.stdout.write(jsonLines(rows));
    return;
  }
  const cells = [...rows]
    .reverse()
    .map((r) => [
      r.id,
      time(r.at),
      r.policy,
      r.kind,
      `${r.current}→${r.decided}${r.wanted !== r.decided ? ` (wanted ${r.wanted})` : ''}`,
      r.actions.join(','),
      oneLine(r.reason, 100),
    ]);
  process.stdout.write(table(['ID', 'AT', 'POLICY', 'KIND', 'SERVERS', 'ACTIONS', 'WHY'], cells));
}

function registerChanges(policies: Command, env: Env): void {
  withConfigDir(
    policies
      .command('add')
      .argument('<name>', 'policy name')
      .argument('[fields...]', `KEY=VALUE: ${POLICY_FIELDS.join(', ')}`)
      .description('add an autoscaling policy (validated: an invalid one is refused naming the field)'),
  )
    .option('--file <json>', 'the policy as a JSON object (KEY=VALUE arguments override it)')
    .action(async (name: string, pairs: string[], opts: { configDir?: string; file?: string }) => {
      const fields = fieldsOf(pairs, opts.file);
      await policyCall(() => withDatabase(opts.configDir, env, ({ sql }) => addPolicy(sql, name, fields)));
      process.stdout.write(`added policy ${name}\n`);
    });

  withConfigDir(
    policies
      .command('set')
      .argument('<name>', 'policy name')
      .argument('<fields...>', 'KEY=VALUE to change')
      .description("change some of a policy's fields (the whole policy is validated again)"),
  ).action(async (name: string, pairs: string[], opts: { configDir?: string }) => {
    const fields = policyFields(pairs);
    await policyCall(() => withDatabase(opts.configDir, env, ({ sql }) => setPolicy(sql, name, fields)));
    process.stdout.write(`changed policy ${name}\n`);
  });

  for (const [which, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withConfigDir(
      policies
        .command(which)
        .argument('<name>', 'policy name')
        .description(
          enabled ? 'evaluate the policy again' : 'stop evaluating the policy (its servers stay as they are)',
        ),
    ).action(async (name: string, opts: { configDir?: string }) => {
      if (!(await withDatabase(opts.configDir, env, ({ sql }) => setPolicyEnabled(sql, name, enabled))))
        throw failure(`no policy "${name}" (cmq policies list)`);
      process.stdout.write(`${which}d policy ${name}\n`);
    });
  }
}

/** `cmq policies add|list|show|set|enable|disable|decisions`: autoscaling of the worker fleet. */
export function registerPolicyCommands(program: Command, env: Env): void {
  const policies = program
    .command('policies')
    .description('autoscaling policies of the worker fleet (evaluated in provisioning.cfg mode=dynamic only)');
  registerChanges(policies, env);

  withConfigDir(policies.command('list').description('list policies, and whether the mode evaluates them'))
    .option('--json', 'one JSON object per line')
    .action(async (opts: { configDir?: string; json?: boolean }) => {
      const mode = loadMode(opts.configDir, env);
      printPolicies(await withDatabase(opts.configDir, env, ({ sql }) => listPolicies(sql)), opts.json);
      if (mode !== 'dynamic' && opts.json !== true)
        process.stdout.write(`policies are inactive in mode ${mode} (provisioning.cfg mode=dynamic evaluates them)\n`);
    });

  withConfigDir(
    policies.command('show').argument('<name>', 'policy name').description('one policy, every field'),
  ).action(async (name: string, opts: { configDir?: string }) => {
    const row = await withDatabase(opts.configDir, env, ({ sql }) => getPolicy(sql, name));
    if (row === undefined) throw failure(`no policy "${name}" (cmq policies list)`);
    process.stdout.write(`${safeJson(row)}\n`);
  });

  withConfigDir(
    policies
      .command('decisions')
      .description('what the policies decided and why (inputs, wanted, decided), oldest first'),
  )
    .option('--family <family>', `only policies watching this family (${FAMILIES.join(', ')})`)
    .option('--policy <name>', 'only this policy')
    .option('--limit <n>', 'the latest n (default 50)', positiveInt(100_000), 50)
    .option('--json', 'one JSON object per line, newest first, with the inputs')
    .action(async (opts: { configDir?: string; family?: string; policy?: string; limit: number; json?: boolean }) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) => listDecisions(sql, opts));
      printDecisions(rows, opts.json);
    });
}
