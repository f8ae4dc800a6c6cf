import type { FileSpec } from './file-spec';
import { kmFile } from './km-file';
import { mqFile } from './mq-file';
import { persistenceFile } from './persistence-file';
import { provisioningFile } from './provisioning-file';
import { workerFile } from './worker-file';

/* The shared files' schemas, one module each; their exports stay reachable from here. */
export * from './km-file';
export * from './mq-file';
export * from './persistence-file';
export * from './provisioning-file';
export * from './worker-file';

/** The files every process reads, in load order. */
export const SHARED_FILES: readonly FileSpec[] = [
  mqFile,
  workerFile,
  persistenceFile,
  kmFile,
  provisioningFile,
] as readonly FileSpec[];
