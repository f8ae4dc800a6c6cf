import { SchemaError, listMigrations, splitMigration } from '@cmq/common';

// The marker syntax of migration files (docs/migrations.md): what runs in a transaction, what
// runs online, and the mistakes refused before anything touches a database.

function refusal(sql: string): SchemaError {
  try {
    splitMigration('099_x.sql', sql);
  } catch (err) {
    if (err instanceof SchemaError) return err;
    throw err;
  }
  throw new Error('splitMigration accepted it');
}

describe('splitMigration', () => {
  it('a file without markers is one transactional part, its text unchanged', () => {
    const sql = '-- a table\nCREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\n';
    expect(splitMigration('001_t.sql', sql)).toEqual([{ kind: 'transaction', sql, line: 1 }]);
  });

  it('splits at the markers, in file order, with the line each part starts on', () => {
    const sql = [
      '-- header only: no statement, so no part',
      '-- cmq:online',
      'ALTER TABLE t VALIDATE CONSTRAINT c;',
      '-- cmq:online',
      '-- the index of ids',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);',
      '-- cmq:transaction',
      'ALTER TABLE t RENAME TO u;',
    ].join('\n');
    const parts = splitMigration('099_x.sql', sql);
    expect(parts.map((p) => [p.kind, p.line, p.index])).toEqual([
      ['online', 3, undefined],
      ['online', 5, 't_id'],
      ['transaction', 8, undefined],
    ]);
    expect(parts[1]?.sql).toBe('-- the index of ids\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);');
  });

  it('reads a quoted index name as written and an unquoted one folded to lower case', () => {
    const quoted = splitMigration(
      'x',
      '-- cmq:online\ncreate unique index concurrently if not exists "Odd ""Name""" on t (id);',
    );
    expect(quoted[0]?.index).toBe('Odd "Name"');
    expect(
      splitMigration('x', '-- cmq:online\nCREATE INDEX CONCURRENTLY IF NOT EXISTS T_Id ON t (id);')[0]?.index,
    ).toBe('t_id');
  });

  it('refuses an unknown marker, naming the file, the line and the known ones', () => {
    const err = refusal('SELECT 1;\n-- cmq:onlin\nSELECT 2;\n');
    expect(err.code).toBe('CMQ_ERR_SCHEMA');
    expect(err.message).toBe(
      '099_x.sql, line 2: unknown marker "-- cmq:onlin" (known: -- cmq:online, -- cmq:transaction)',
    );
  });

  it('refuses an online step without a statement', () => {
    expect(refusal('-- cmq:online\n-- nothing\n\n-- cmq:transaction\nSELECT 1;\n').message).toBe(
      '099_x.sql, online step at line 1: no statement follows the marker',
    );
  });

  it('refuses CREATE INDEX CONCURRENTLY that a rerun could not find (no IF NOT EXISTS, or no name)', () => {
    expect(refusal('SELECT 1;\n-- cmq:online\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n').message).toMatch(
      /^099_x\.sql, online step at line 2: CREATE INDEX CONCURRENTLY must name its index and say IF NOT EXISTS/,
    );
    expect(refusal('-- cmq:online\nCREATE INDEX CONCURRENTLY ON t (id);\n').message).toMatch(/must name its index/);
  });

  it('every shipped migration parses; 017 runs its scan and index builds online, then one transaction', () => {
    const m17 = listMigrations().find((m) => m.version === 17);
    expect(m17?.parts.map((p) => p.kind)).toEqual(['online', 'online', 'online', 'online', 'online', 'transaction']);
    expect(m17?.parts.flatMap((p) => p.index ?? [])).toEqual([
      'actions_final',
      'actions_tenant_recent',
      'resource_changes_at',
    ]);
    for (const m of listMigrations().filter((x) => x.version !== 17))
      expect(m.parts.map((p) => p.kind)).toEqual(['transaction']);
  });
});
