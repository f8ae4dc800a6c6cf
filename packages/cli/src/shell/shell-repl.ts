import { once } from 'node:events';
import { homedir } from 'node:os';
import { join } from 'node:path';
import repl, { type REPLServer } from 'node:repl';
import { Script, createContext } from 'node:vm';
import type { Env } from '../config-set';
import { SHELL_HELP, type ShellApi } from './shell-api';

type Completer = (line: string, callback: (err: Error | null, result: [string[], string]) => void) => void;

/** `~/.cmq_shell_history` (HOME from the environment first). */
export function historyFile(env: Env): string {
  return join(env.HOME ?? homedir(), '.cmq_shell_history');
}

/**
 * Runs `code` with the shell's functions in scope and returns its awaited value: as an
 * expression (`await call('noop', {}, {tenant: 'T'})`), or, when it is not one, as the body of
 * an async function (statements; `return` gives the value).
 */
export async function evaluate(api: ShellApi, code: string): Promise<unknown> {
  const context = createContext({ ...api, console, setTimeout, clearTimeout });
  let script: Script;
  try {
    script = new Script(`(async () => (\n${code}\n))()`, { filename: 'cmq-shell-e' });
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    script = new Script(`(async () => {\n${code}\n})()`, { filename: 'cmq-shell-e' });
  }
  return (await script.runInContext(context)) as unknown;
}

/** The `.help` text: the functions, then the action types. */
export function helpText(api: ShellApi): string {
  const width = Math.max(...SHELL_HELP.map(([f]) => f.length));
  const functions = SHELL_HELP.map(([f, what]) => `  ${f.padEnd(width)}  ${what}`).join('\n');
  return `Functions (each returns a promise: await it):\n${functions}\n\nAction types:\n  ${api.types.join('\n  ')}\n`;
}

/**
 * Completes action type names inside `call('...`; anything else goes to the REPL's own
 * completer (globals, properties).
 */
export function typeCompleter(types: readonly string[], fallback: Completer): Completer {
  return (line, callback) => {
    const m = /\bcall\(\s*['"`]([\w.-]*)$/.exec(line);
    if (m === null) return fallback(line, callback);
    const partial = m[1] ?? '';
    callback(null, [types.filter((t) => t.startsWith(partial)), partial]);
  };
}

/** The interactive shell: top-level await, history, completion of types, `.help`; resolves on `.exit`. */
export async function runRepl(api: ShellApi, env: Env): Promise<void> {
  process.stdout.write(`cmq shell: mode ${api.mode}; .help lists the functions and the action types\n`);
  const server: REPLServer = repl.start({ prompt: 'cmq> ', ignoreUndefined: true, useGlobal: false });
  Object.assign(server.context, api);
  const writable = server as unknown as { completer: Completer };
  writable.completer = typeCompleter(api.types, writable.completer.bind(server));
  server.defineCommand('help', {
    help: 'List the shell functions and the action types',
    action() {
      this.clearBufferedCommand();
      this.output.write(helpText(api));
      this.displayPrompt();
    },
  });
  server.setupHistory(historyFile(env), (err) => {
    if (err !== null) process.stderr.write(`cmq shell: no history (${err.message})\n`);
  });
  await once(server, 'exit');
}
