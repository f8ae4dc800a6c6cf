import { SchemaError } from '../errors';

/**
 * One part of a migration file (docs/migrations.md): `transaction` runs in a transaction of its
 * own; `online` is one statement run on its own in autocommit, for what PostgreSQL refuses inside
 * a transaction (`CREATE INDEX CONCURRENTLY`) or what must not hold its lock until the rest
 * commits (`VALIDATE CONSTRAINT`).
 */
export interface MigrationPart {
  kind: 'transaction' | 'online';
  sql: string;
  /** The line of the file where its text starts (1-based). */
  line: number;
  /** For `CREATE INDEX CONCURRENTLY`: the index it makes (an invalid leftover is dropped before a rerun). */
  index?: string;
}

const MARKER_RE = /^-- cmq:(\S*)\s*$/;
const KINDS: readonly string[] = ['online', 'transaction'];
const CONCURRENT_INDEX_RE =
  /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(IF\s+NOT\s+EXISTS\s+)?(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))/i;

/** The text without `--` comment lines and surrounding blanks: empty when a part has no statement. */
function statementText(sql: string): string {
  return sql
    .split('\n')
    .filter((l) => !/^\s*--/.test(l))
    .join('\n')
    .trim();
}

function part(file: string, kind: MigrationPart['kind'], lines: string[], line: number): MigrationPart | undefined {
  const sql = lines.join('\n');
  const statement = statementText(sql);
  if (kind === 'transaction') return statement === '' ? undefined : { kind, sql, line };
  const where = `${file}, online step at line ${line - 1}`;
  if (statement === '') throw new SchemaError(`${where}: no statement follows the marker`);
  const m = CONCURRENT_INDEX_RE.exec(statement);
  if (/^CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY/i.test(statement) && (m === null || m[1] === undefined))
    throw new SchemaError(
      `${where}: CREATE INDEX CONCURRENTLY must name its index and say IF NOT EXISTS, so that a rerun after a failure finds what the first run built`,
    );
  const index = m === null ? undefined : (m[2]?.replace(/""/g, '"') ?? m[3]?.toLowerCase());
  return index === undefined ? { kind, sql, line } : { kind, sql, line, index };
}

/**
 * Splits a migration file at its marker lines: `-- cmq:online` starts an online step (one
 * statement), `-- cmq:transaction` starts a transactional part; the text before the first
 * marker is transactional. A file without markers is one transactional part.
 * @throws SchemaError naming the file and line of an unknown marker, an online step without a
 * statement, or a `CREATE INDEX CONCURRENTLY` a rerun could not find.
 */
export function splitMigration(file: string, sql: string): MigrationPart[] {
  const parts: MigrationPart[] = [];
  let kind: MigrationPart['kind'] = 'transaction';
  let lines: string[] = [];
  let start = 1;
  const flush = (): void => {
    const p = part(file, kind, lines, start);
    if (p !== undefined) parts.push(p);
  };
  sql.split('\n').forEach((text, i) => {
    const m = MARKER_RE.exec(text);
    if (m === null) {
      lines.push(text);
      return;
    }
    const next = m[1] as string;
    if (!KINDS.includes(next))
      throw new SchemaError(
        `${file}, line ${i + 1}: unknown marker "-- cmq:${next}" (known: -- cmq:online, -- cmq:transaction)`,
      );
    flush();
    kind = next as MigrationPart['kind'];
    lines = [];
    start = i + 2;
  });
  flush();
  return parts;
}
