import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file below `dir`, recursively; throws when `dir` does not exist. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * The text of every file below `dir`: what a test searches for a secret that must not be there.
 * A missing `dir` throws (a service that ran has made its log dir) unless `absentOk`.
 */
export function textsUnder(dir: string, opts: { absentOk?: boolean } = {}): string[] {
  if (opts.absentOk === true && !existsSync(dir)) return [];
  return filesUnder(dir).map((f) => readFileSync(f, 'utf8'));
}
