import pino from 'pino';
import type { Logger } from '@cmq/common';

/** One JSON log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A real pino logger (no network, no file) whose lines a unit test reads back. */
export function captureLogs(level: pino.LevelWithSilent = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}
