import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import convict from 'convict';
import { ConfigError, type ConfigIssue, errorText } from '../errors';
import { type FileSpec, envName, walkSchema } from './file-spec';
import { parseProperties } from './properties';

type Env = Readonly<Record<string, string | undefined>>;

/** The loaded values of one file, plus where they came from. */
export interface LoadedFile<T> {
  readonly spec: FileSpec<T>;
  readonly path: string;
  readonly exists: boolean;
  readonly value: T;
}

/** Adds `env` to every leaf (derived from the key) so every key has an override. */
function withEnv<T>(spec: FileSpec<T>): convict.Schema<T> {
  const copy = structuredClone(spec.schema) as unknown;
  walkSchema(copy, (key, leaf) => {
    leaf.env = envName(spec.envPrefix, key);
  });
  return copy as convict.Schema<T>;
}

const UNDECLARED_RE = /^configuration param '(.+)' not declared in the schema$/;
const KEYED_RE = /^([A-Za-z0-9_.]+): (.*)$/;

/** Splits convict's one-message-per-line validation error into issues. */
function issuesFromConvict(message: string, path: string, spec: FileSpec, env: Env): ConfigIssue[] {
  return message.split('\n').map((line) => {
    const undeclared = UNDECLARED_RE.exec(line);
    if (undeclared?.[1] !== undefined) {
      return { source: path, key: undeclared[1], message: 'unknown key (not in the schema; check the spelling)' };
    }
    const keyed = KEYED_RE.exec(line);
    const key = keyed?.[1] ?? '(file)';
    return { source: sourceOf(key, path, spec, env), key, message: keyed?.[2] ?? line };
  });
}

/**
 * Whether the file is there. A symbolic link whose target is gone is a problem, not an absent
 * file: a configuration management run that lost its target must not start a process on defaults.
 */
function present(path: string, issues: ConfigIssue[]): boolean {
  if (existsSync(path)) return true;
  try {
    if (lstatSync(path).isSymbolicLink()) {
      const target = readlinkSync(path);
      issues.push({ source: path, key: '(file)', message: `is a symbolic link to ${target}, which does not exist` });
    }
  } catch {
    // Not there at all: the file's defaults apply.
  }
  return false;
}

/** Where `key` of a file came from: its environment override when set, else the file. */
function sourceOf(key: string, path: string, spec: FileSpec, env: Env): string {
  const variable = envName(spec.envPrefix, key);
  return env[variable] !== undefined ? `env ${variable}` : path;
}

/** Loads and validates one file; problems are appended to `issues` instead of thrown. */
export function loadFile<T>(dir: string, spec: FileSpec<T>, env: Env, issues: ConfigIssue[]): LoadedFile<T> {
  const path = join(dir, spec.file);
  const exists = present(path, issues);
  let values: Record<string, unknown> = {};
  if (exists) {
    try {
      const parsed = parseProperties(readFileSync(path, 'utf8'));
      values = parsed.values;
      for (const key of parsed.clashes) {
        issues.push({ source: path, key, message: 'clashes with another key that uses it as a prefix' });
      }
    } catch (err) {
      issues.push({ source: path, key: '(file)', message: `cannot be read: ${errorText(err)}` });
    }
  }
  const config = convict(withEnv(spec), { env: { ...env }, args: [] });
  try {
    config.load(values);
    config.validate({ allowed: 'strict', output: () => undefined });
  } catch (err) {
    issues.push(...issuesFromConvict(errorText(err), path, spec, env));
  }
  const value = config.getProperties();
  if (spec.crossCheck) {
    for (const [key, message] of spec.crossCheck(value)) issues.push({ source: path, key, message });
  }
  for (const [key, message] of spec.checkFiles?.(value) ?? [])
    issues.push({ source: sourceOf(key, path, spec, env), key, message });
  return { spec, path, exists, value: deepFreeze(value) };
}

/**
 * Loads every file of a process from `dir`. Missing files mean "all defaults"; a missing
 * directory, a dangling symbolic link and a named file (keys, TLS) that is missing or does not
 * parse are errors. Throws a {@link ConfigError} listing every problem of every file.
 */
export function loadFiles(dir: string, specs: readonly FileSpec[], env: Env): Map<string, LoadedFile<unknown>> {
  const issues: ConfigIssue[] = [];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ConfigError([
      { source: dir, key: '(config dir)', message: 'is not a directory (set --config-dir or CMQ_CONFIG_DIR)' },
    ]);
  }
  const loaded = new Map<string, LoadedFile<unknown>>();
  for (const spec of specs) loaded.set(spec.file, loadFile(dir, spec, env, issues));
  if (issues.length > 0) throw new ConfigError(issues);
  return loaded;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
