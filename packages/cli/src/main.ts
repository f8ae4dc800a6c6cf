#!/usr/bin/env node
import { ConfigError, ExitCode, VERSION, errorText } from '@cmq/common';
import { Command, CommanderError } from 'commander';
import { registerConfigCommands } from './commands/config';
import { registerMigrateCommand } from './commands/migrate';

/** `cmq`: the operator's command line. Exit 0 ok, 1 failure, 64 usage, 78 bad configuration. */
async function main(argv: string[]): Promise<number> {
  const env = process.env;
  const program = new Command('cmq').version(VERSION).description('cmq-workers operator commands').exitOverride();
  registerConfigCommands(program, env);
  registerMigrateCommand(program, env);
  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : 64;
    if (err instanceof ConfigError) {
      process.stderr.write(`cmq: ${err.message}\n`);
      return ExitCode.CONFIG;
    }
    process.stderr.write(`cmq: ${errorText(err)}\n`);
    return (err as { code?: string }).code === 'CMQ_ERR_SCHEMA' ? ExitCode.CONFIG : 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cmq: ${errorText(err)}\n`);
    process.exitCode = 1;
  },
);
