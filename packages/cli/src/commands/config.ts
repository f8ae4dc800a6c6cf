import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles, renderEffective, renderSample } from '@cmq/common';
import type { Command } from 'commander';
import { loadDbConfig } from '../cli-db';
import { CONFIG_DIR_HELP } from '../options';
import { type Env, allFileSpecs, configDir } from '../config-set';

/** Quotes a value for POSIX sh. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function registerConfigCommands(program: Command, env: Env): void {
  const config = program.command('config').description('validate, show and generate configuration');

  config
    .command('check')
    .description('validate every configuration file and print the effective configuration, secrets masked')
    .option('--config-dir <dir>', CONFIG_DIR_HELP)
    .action((opts: { configDir?: string }) => {
      const dir = configDir(opts.configDir, env);
      const files = loadFiles(dir, allFileSpecs(dir), env);
      for (const file of files.values()) process.stdout.write(`${renderEffective(file)}\n\n`);
      process.stdout.write(`configuration OK: ${files.size} files checked in ${dir}\n`);
    });

  config
    .command('samples')
    .description('print (or write) the commented sample of every configuration file, generated from the schemas')
    .option('--write <dir>', 'write the samples into this directory instead of printing them')
    .action((opts: { write?: string }) => {
      for (const spec of allFileSpecs(undefined)) {
        const text = renderSample(spec);
        if (opts.write === undefined) process.stdout.write(`${text}\n`);
        else writeFileSync(join(opts.write, spec.file), text);
      }
    });

  config
    .command('pg-env')
    .description(
      'print PGHOST, PGPORT, PGDATABASE and PGUSER as shell exports, for scripts; PGPASSWORD only with --with-password',
    )
    .option('--config-dir <dir>', CONFIG_DIR_HELP)
    .option('--with-password', 'also print PGPASSWORD (db.password, in clear) when one is set')
    .action((opts: { configDir?: string; withPassword?: boolean }) => {
      const db = loadDbConfig(opts.configDir, env);
      const vars: Array<[string, string]> = [
        ['PGHOST', db.host],
        ['PGPORT', String(db.port)],
        ['PGDATABASE', db.database],
        ['PGUSER', db.user],
      ];
      // The password is printed only when asked for, so that a terminal or a log capturing
      // the output of a plain `cmq config pg-env` never holds it.
      if (db.password !== '' && opts.withPassword === true) vars.push(['PGPASSWORD', db.password]);
      else if (db.password !== '')
        process.stderr.write('cmq: db.password is set but not printed; add --with-password to export PGPASSWORD\n');
      for (const [k, v] of vars) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
    });
}
