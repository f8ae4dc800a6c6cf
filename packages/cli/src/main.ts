#!/usr/bin/env node
import { ConfigError, ExitCode, VERSION, errorText } from '@cmq/common';
import { Command, CommanderError } from 'commander';
import { CommandFailed } from './command-error';
import { registerActionsCommands } from './commands/actions';
import { registerCallCommand } from './commands/call';
import { registerCancelCommand } from './commands/cancel';
import { registerCheckCommand } from './commands/check';
import { registerConfigCommands } from './commands/config';
import { registerDeadCommands } from './commands/dead';
import { registerDocsCommand } from './commands/docs';
import { registerEventsCommand } from './commands/events';
import { registerHistoryCommands } from './commands/history';
import { registerLogsCommand } from './commands/logs';
import { registerMigrateCommand } from './commands/migrate';
import { registerResultCommand } from './commands/result';
import { registerShellCommand } from './commands/shell';
import { registerStatusCommand } from './commands/status';
import { registerTenantCommands } from './commands/tenants';
import { registerUserCommands } from './commands/users';
import { registerKeysCommands } from './commands/keys';
import { registerGuestCommands } from './commands/guests';
import { registerAccountCommands } from './commands/accounts';
import { registerNodeCommands } from './commands/nodes';
import { registerPolicyCommands } from './commands/policies';
import { registerProbesCommand } from './commands/probes';
import { registerResourcesCommand } from './commands/resources';
import { registerChangesCommand } from './commands/changes';
import { registerWorkersCommands } from './commands/workers';

/**
 * `cmq`: the operator's command line. Exit 0 ok, 1 failure, 2 bad request refused at intake,
 * 64 usage, 78 bad configuration.
 */
async function main(argv: string[]): Promise<number> {
  const env = process.env;
  const program = new Command('cmq').version(VERSION).description('cmq-workers operator commands').exitOverride();
  registerConfigCommands(program, env);
  registerDocsCommand(program);
  registerMigrateCommand(program, env);
  registerTenantCommands(program, env);
  registerUserCommands(program, env);
  registerCallCommand(program, env);
  registerResultCommand(program, env);
  registerShellCommand(program, env);
  registerActionsCommands(program, env);
  registerCancelCommand(program, env);
  registerDeadCommands(program, env);
  registerStatusCommand(program, env);
  registerCheckCommand(program, env);
  registerEventsCommand(program, env);
  registerHistoryCommands(program, env);
  registerLogsCommand(program, env);
  registerKeysCommands(program, env);
  registerGuestCommands(program, env);
  registerAccountCommands(program, env);
  registerNodeCommands(program, env);
  registerPolicyCommands(program, env);
  registerProbesCommand(program, env);
  registerResourcesCommand(program, env);
  registerChangesCommand(program, env);
  registerWorkersCommands(program, env);
  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : 64;
    if (err instanceof CommandFailed) {
      if (err.message !== '') process.stderr.write(`cmq: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`cmq: ${err.message}\n`);
      return ExitCode.CONFIG;
    }
    process.stderr.write(`cmq: ${errorText(err)}\n`);
    return (err as { code?: string }).code === 'CMQ_ERR_SCHEMA' ? ExitCode.CONFIG : 1;
  }
}

// A reader that went away (`cmq actions | head`) ends the command quietly, as SIGPIPE would,
// instead of an unhandled 'error' event with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`cmq: cannot write the output: ${errorText(err)}\n`);
  process.exit(1);
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cmq: ${errorText(err)}\n`);
    process.exitCode = 1;
  },
);
