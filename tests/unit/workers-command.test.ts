import { registerWorkersCommands } from '@cmq/cli/src/commands/workers';
import { Command } from 'commander';

/** `cmq workers` refuses a command line that does not say whom to act on, before any connection. */
async function run(...args: string[]): Promise<unknown> {
  const program = new Command('cmq').exitOverride().configureOutput({ writeErr: () => undefined });
  registerWorkersCommands(program, {});
  return program.parseAsync(['workers', ...args], { from: 'user' }).then(
    () => 'no error',
    (err: unknown) => err,
  );
}

it.each([
  [['drain'], 'say which processes: --name, --host, --pid, or --all'],
  [['pause', 'control'], 'say which processes: --name, --host, --pid, or --all'],
  [['pause', 'control', '--all', '--name', 'b'], '--all goes without --name, --host and --pid'],
  [['resume', 'nosuch', '--name', 'b'], '"nosuch" is not a family (provision, monitor, guest, control)'],
])('cmq workers %j is a usage error (exit 64): %s', async (args, message) => {
  expect(await run(...args)).toMatchObject({ exitCode: 64, message });
});

it('a bad --service or --pid is refused by the option parser', async () => {
  expect(await run('ping', '--service', 'worker')).toMatchObject({ code: 'commander.invalidArgument' });
  expect(await run('ping', '--pid', '0')).toMatchObject({ code: 'commander.invalidArgument' });
});
