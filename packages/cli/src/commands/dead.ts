import {
  getDeadLetter,
  listDead,
  replayDead,
  replayDeadMessage,
  replayDeadMatching,
  type DeadLetterRow,
} from '@cmq/actions';
import { Exchanges, type Sql } from '@cmq/common';
import type { Command } from 'commander';
import { renderBody } from '../body-text';
import { loadMqConfig, publishOnce } from '../broker';
import { cliActor, withDatabase } from '../cli-db';
import { failure, usage } from '../command-error';
import { type Env } from '../config-set';
import { jsonLines, oneLine, printable, table, time } from '../format';
import { type DeadId, deadId, positiveInt, withConfigDir } from '../options';
import { showAction } from './actions';

interface ConfigOpts {
  configDir?: string;
}

function deadLetterText(d: DeadLetterRow): string {
  const kept = d.body.length < d.body_bytes ? ` (only the first ${d.body.length} kept)` : '';
  const fields: Array<[string, string]> = [
    ['id', `m${d.id}`],
    ['at', time(d.at)],
    ['reason', d.reason],
    ['routing key', d.routing_key],
    ['tenant', d.tenant_id ?? '-'],
    ['worker', d.worker],
    ['size', `${d.body_bytes} bytes${kept}`],
    ['replayed', time(d.replayed_at)],
  ];
  return `${fields.map(([k, v]) => `${`${k}:`.padEnd(13)}${printable(v)}\n`).join('')}${renderBody(d.body, d.body_bytes)}`;
}

async function show(id: DeadId, opts: ConfigOpts, env: Env): Promise<void> {
  if (id.kind === 'action') {
    return showAction(opts.configDir, env, id.id, false, (state) => {
      if (state !== 'dead') throw failure(`action ${id.id} is ${state}, not dead (see \`cmq actions show ${id.id}\`)`);
    });
  }
  const letter = await withDatabase(opts.configDir, env, ({ sql }) => getDeadLetter(sql, id.id));
  if (letter === undefined) throw failure(`no dead message m${id.id}`);
  process.stdout.write(deadLetterText(letter));
}

async function replayAction(id: string, opts: ConfigOpts, env: Env): Promise<void> {
  await withDatabase(opts.configDir, env, ({ sql }) => replayDeadAction(sql, id, cliActor(env)));
  process.stdout.write(`${id} pending (replayed, attempts reset)\n`);
}

/**
 * Puts dead action `id` back to pending with fresh attempts, as `actor` (`cmq dead replay`,
 * `cmq shell`'s replay()). @throws CommandFailed when there is no such action or it is not dead.
 */
export async function replayDeadAction(sql: Sql, id: string, actor: string): Promise<void> {
  const r = await replayDead(sql, id, actor);
  if (!r.ok) throw failure(r.error);
}

/** Publishes the stored body again with its original routing key, then marks it replayed. */
async function replayMessage(id: string, opts: ConfigOpts, env: Env): Promise<void> {
  const mq = loadMqConfig(opts.configDir, env);
  const r = await withDatabase(opts.configDir, env, ({ sql }) =>
    replayDeadMessage(sql, id, (key, body, options) => publishOnce(mq, Exchanges.actions, key, body, options)),
  );
  if (!r.ok) throw failure(r.error);
  process.stdout.write(`m${id} published again to ${Exchanges.actions} with routing key ${r.routingKey}\n`);
}

async function replay(
  text: string | undefined,
  opts: ConfigOpts & { all?: boolean; tenant?: string },
  env: Env,
): Promise<void> {
  if (opts.all === true) {
    if (text !== undefined) throw usage('dead replay: give an ID or --all, not both');
    const n = await withDatabase(opts.configDir, env, ({ sql }) =>
      replayDeadMatching(sql, { tenant: opts.tenant }, cliActor(env)),
    );
    process.stdout.write(`replayed ${n} dead action${n === 1 ? '' : 's'}\n`);
    return;
  }
  if (text === undefined) throw usage('dead replay: give an ID (123 or m45) or --all');
  if (opts.tenant !== undefined) throw usage('dead replay: --tenant goes with --all');
  const id = deadId(text);
  await (id.kind === 'action' ? replayAction(id.id, opts, env) : replayMessage(id.id, opts, env));
}

/** `cmq dead list|show|replay`: dead actions (`123`) and dead messages (`m45`). */
export function registerDeadCommands(program: Command, env: Env): void {
  const dead = program
    .command('dead')
    .description('dead actions (id 123) and dead messages (id m45): list, show, replay');

  withConfigDir(dead.command('list').description('dead actions and dead messages not yet replayed, newest first'))
    .option('--tenant <tenant>', "only this tenant's")
    .option('--limit <n>', 'at most this many (default 50)', positiveInt(1_000_000), 50)
    .option('--json', 'one JSON object per line')
    .action(async (opts: ConfigOpts & { tenant?: string; limit: number; json?: boolean }) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) =>
        listDead(sql, { tenant: opts.tenant, limit: opts.limit }),
      );
      if (opts.json === true) process.stdout.write(jsonLines(rows));
      else
        process.stdout.write(
          table(
            ['ID', 'AT', 'TENANT', 'TYPE', 'ROUTING KEY', 'REASON'],
            rows.map((r) => [
              r.id,
              time(r.at),
              r.tenant ?? '-',
              r.type ?? '-',
              r.routing_key ?? '-',
              oneLine(r.reason, 100),
            ]),
          ),
        );
    });

  withConfigDir(dead.command('show').argument('<id>', 'dead action id (123) or dead message id (m45)'))
    .description('a dead action with its events, or a dead message with its body (printed safely)')
    .action((text: string, opts: ConfigOpts) => show(deadId(text), opts, env));

  withConfigDir(dead.command('replay').argument('[id]', 'dead action id (123) or dead message id (m45)'))
    .description('run a dead action again (back to pending, attempts reset) or publish a dead message again')
    .option('--all', 'every dead action (of --tenant)')
    .option('--tenant <tenant>', "with --all: only this tenant's")
    .action((text: string | undefined, opts: ConfigOpts & { all?: boolean; tenant?: string }) =>
      replay(text, opts, env),
    );
}
