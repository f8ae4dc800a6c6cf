import { readdirSync } from 'node:fs';
import { type FileSpec, type LoadedFile, SHARED_FILES, loadFiles } from '@cmq/common';
import { consoleFile, pingerFile, publisherFile, subscriberFile } from '@cmq/config';

export type Env = Readonly<Record<string, string | undefined>>;

/** `--config-dir`, else `CMQ_CONFIG_DIR`, else `/etc/cmq-workers`. */
export function configDir(option: string | undefined, env: Env): string {
  return option ?? env.CMQ_CONFIG_DIR ?? '/etc/cmq-workers';
}

/** Loads only the file of `spec` from the configuration directory and returns its value (ConfigError: exit 78). */
export function loadConfigFile<T>(dirOption: string | undefined, env: Env, spec: FileSpec<T>): T {
  return (loadFiles(configDir(dirOption, env), [spec], env).get(spec.file) as LoadedFile<T>).value;
}

const INSTANCE_RE = /^subscriber-([A-Za-z0-9][A-Za-z0-9_-]*)\.properties$/;

/** Every file of the installation: the shared ones, each process's own, every subscriber instance. */
export function allFileSpecs(dir: string | undefined): FileSpec[] {
  const instances = dir === undefined ? [] : listInstances(dir);
  return [
    ...SHARED_FILES,
    publisherFile(),
    subscriberFile(),
    ...instances.map((i) => subscriberFile(i) as FileSpec),
    pingerFile(),
    consoleFile(),
  ];
}

function listInstances(dir: string): string[] {
  try {
    return readdirSync(dir)
      .map((f) => INSTANCE_RE.exec(f)?.[1])
      .filter((i): i is string => i !== undefined)
      .sort();
  } catch {
    return [];
  }
}
