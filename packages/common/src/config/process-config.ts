import type { FileSpec } from './file-spec';
import { type LoadedFile, loadFiles } from './loader';
import {
  type DbConfig,
  type KmConfig,
  type MqConfig,
  type ProvisioningConfig,
  type RedisConfig,
  SHARED_FILES,
} from './shared-files';

/** The frozen, validated configuration of one process: the shared files plus its own. */
export interface ProcessConfig<Own> {
  readonly dir: string;
  readonly amqp: MqConfig['amqp'];
  readonly db: DbConfig['db'];
  readonly redis: RedisConfig['redis'];
  readonly km: KmConfig['km'];
  readonly provisioning: ProvisioningConfig;
  readonly own: Own;
  /** Every file as loaded, for `cmq config check`. */
  readonly files: ReadonlyArray<LoadedFile<unknown>>;
}

/**
 * Loads and validates the shared files and the process's own file from `dir`.
 * @throws ConfigError listing every problem in every file, each with its file and key.
 */
export function loadProcessConfig<Own>(
  dir: string,
  own: FileSpec<Own>,
  env: Readonly<Record<string, string | undefined>>,
): ProcessConfig<Own> {
  const files = loadFiles(dir, [...SHARED_FILES, own], env);
  const get = <T>(file: string): T => (files.get(file) as LoadedFile<T>).value;
  return Object.freeze({
    dir,
    amqp: get<MqConfig>('mq.cfg').amqp,
    db: get<DbConfig>('worker.properties').db,
    redis: get<RedisConfig>('persistence.properties').redis,
    km: get<KmConfig>('km-client.cfg').km,
    provisioning: get<ProvisioningConfig>('provisioning.cfg'),
    own: get<Own>(own.file),
    files: [...files.values()],
  });
}
