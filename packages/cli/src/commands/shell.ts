import type { Command } from 'commander';
import { openCliDb } from '../cli-db';
import { type Env } from '../config-set';
import { safeJson } from '../format';
import { withConfigDir } from '../options';
import { shellApi } from '../shell/shell-api';
import { evaluate, runRepl } from '../shell/shell-repl';

/** `cmq shell`: a Node REPL with the live system loaded; `-e CODE` runs CODE and prints its value as JSON. */
export function registerShellCommand(program: Command, env: Env): void {
  withConfigDir(program.command('shell'))
    .description(
      'a Node REPL with the live system loaded: call(), wait(), result(), actions(), show(), dead(), replay(), status(), tenants(), config, db (.help lists them)',
    )
    .option('-e, --eval <code>', 'run CODE (awaited), print its value as JSON and exit (non-zero with the error)')
    .action(async (opts: { configDir?: string; eval?: string }) => {
      const opened = openCliDb(opts.configDir, env);
      try {
        const api = shellApi(opts.configDir, env, opened.db);
        if (opts.eval === undefined) await runRepl(api, env);
        else process.stdout.write(`${safeJson(await evaluate(api, opts.eval))}\n`);
      } catch (err) {
        throw opened.explain(err);
      } finally {
        await opened.end();
      }
    });
}
