import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait';

export const ROOT = join(__dirname, '..', '..');
export const execFileP = promisify(execFile);

const BINS: Record<string, string> = {
  publisher: 'services/publisher/dist/main.js',
  subscriber: 'services/subscriber/dist/main.js',
  pinger: 'services/pinger/dist/main.js',
  console: 'services/console/dist/main.js',
  cmq: 'packages/cli/dist/main.js',
};

/** A spawned built bin, with its output kept and its exit awaited. */
export class Spawned {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Exit code, or fails if the process is still running after `timeoutMs`. */
  async exitCode(timeoutMs = 20_000): Promise<number | null> {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`process ${this.pid} still running after ${timeoutMs} ms; stderr: ${this.stderr}`)),
        timeoutMs,
      ).unref(),
    );
    return (await Promise.race([this.exited, timeout])).code;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive()) this.child.kill(signal);
  }
}

/** Spawns `node <bin> args` from the built tree (run `npm run build` first). */
export function spawnBin(bin: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Spawned {
  const script = resolve(ROOT, BINS[bin] ?? bin);
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build`);
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Spawned(child);
}

/** Runs the built `cmq` CLI to completion. */
export async function runCmq(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CmqRun> {
  const p = spawnBin('cmq', args, env);
  const code = await p.exitCode(60_000);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/**
 * Runs the built `cmq` with `input` on its standard input, to completion. It resolves on 'close',
 * once its output has been read to the end, and has no time limit of its own (a large --stdin
 * input may take a while).
 */
export function runCmqWithInput(args: string[], input: string): Promise<CmqRun> {
  const child = spawn(process.execPath, [resolve(ROOT, BINS.cmq ?? ''), ...args], {
    env: { PATH: process.env.PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

export interface CmqRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `cmq ARGS --config-dir DIR` with DIR read at each call (a test's config dir is made in
 * beforeAll), every stdout and stderr kept in `outputs` (for the no-secret-in-any-output checks).
 */
export function recordingCmq(
  configDir: () => string,
  outputs: string[],
): (args: string[], dir?: string) => Promise<CmqRun> {
  return async (args, dir = configDir()) => {
    const res = await runCmq([...args, '--config-dir', dir]);
    outputs.push(res.stdout, res.stderr);
    return res;
  };
}

/** Parsed JSON lines of a log file (empty when absent). */
export function logLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  // Only complete lines: a line being written (no newline yet) is read on the next look.
  const text = readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function waitForLog(
  file: string,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
  what = 'a log line',
): Promise<void> {
  await waitFor(() => logLines(file).some(match), timeoutMs, `${what} in ${file}`);
}
