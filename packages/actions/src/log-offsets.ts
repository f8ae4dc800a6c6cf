import type { Sql } from '@cmq/common';

/** Where the collection of one remote file stopped, and the local copy's size at that commit. */
export interface LogOffset {
  inode: string;
  offset: number;
  localSize: number;
}

export async function getLogOffset(
  sql: Sql,
  tenant: string,
  guest: string,
  path: string,
): Promise<LogOffset | undefined> {
  const { rows } = await sql.query<{ inode: string; offset: string; local_size: string }>(
    'SELECT inode::text AS inode, "offset", local_size FROM guest_log_offsets WHERE tenant_id = $1 AND guest_id = $2 AND path = $3',
    [tenant, guest, path],
  );
  const r = rows[0];
  return r === undefined ? undefined : { inode: r.inode, offset: Number(r.offset), localSize: Number(r.local_size) };
}

/** Commits a position: call only after the bytes up to `offset` are appended and fsynced locally. */
export async function saveLogOffset(
  sql: Sql,
  tenant: string,
  guest: string,
  path: string,
  pos: LogOffset,
): Promise<void> {
  await sql.query(
    `INSERT INTO guest_log_offsets (tenant_id, guest_id, path, inode, "offset", local_size) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, guest_id, path) DO UPDATE SET inode = $4, "offset" = $5, local_size = $6, updated_at = now()`,
    [tenant, guest, path, pos.inode, pos.offset, pos.localSize],
  );
}
