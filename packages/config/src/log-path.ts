/** Longest remote log path, in UTF-8 bytes. */
export const MAX_LOG_PATH_BYTES = 1024;

/**
 * Why `path` is not a remote log file guest.logs.collect can take (absolute, a file not a
 * directory, no . or .. segments, no NUL or line break, at most MAX_LOG_PATH_BYTES), or
 * undefined when it is fine. `publisher.properties` logs.paths and `cmq guests add --log-paths`
 * share this rule.
 */
export function logPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not absolute (it must start with /)';
  if (path.endsWith('/')) return 'names a directory (it ends with /), not a file';
  if (/[\0\n\r]/.test(path)) return 'contains a NUL or line break';
  if (path.split('/').some((seg) => seg === '.' || seg === '..')) return 'has a . or .. segment';
  // The path is part of the key of its offset row (guest_log_offsets), and PostgreSQL's index
  // entries hold at most ~2.7 KB: a longer path could be accepted but never collected.
  if (Buffer.byteLength(path) > MAX_LOG_PATH_BYTES) return `is longer than ${MAX_LOG_PATH_BYTES} bytes`;
  return undefined;
}
