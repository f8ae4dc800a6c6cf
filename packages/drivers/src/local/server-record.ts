import type { Server, ServerState } from '../driver';
import { readIfExists, writeAtomic } from './files';
import type { ServerPaths } from './layout';
import { localError } from './local-errors';
import { isOurs } from './processes';

/** What `server.json` holds: the local cloud's own record of one server. */
export interface ServerRecord {
  id: string;
  name: string;
  image: string;
  size: string;
  /** sha256 of the launch's idempotency token (its file is removed when the server is forgotten). */
  tokenHash: string;
  /** 127.0.X.Y, once allocated. */
  address?: string;
  port: number;
  loginUser: string;
  /** `pending` until sshd first answered; `terminated` once stopped for good. */
  state: 'pending' | 'running' | 'terminated';
  launchedAt: string;
  terminatedAt?: string;
  hostKeyFingerprint?: string;
  /** The last started sshd and log writer (the pid files are checked too). */
  pids: { sshd?: number; log?: number };
  home: string;
  logPaths: string[];
}

export async function readRecord(operation: string, paths: ServerPaths): Promise<ServerRecord | undefined> {
  const text = await readIfExists(operation, paths.state);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as ServerRecord;
  } catch {
    throw localError('transient', operation, `${paths.state}: not JSON`);
  }
}

export async function writeRecord(operation: string, paths: ServerPaths, record: ServerRecord): Promise<void> {
  await writeAtomic(operation, paths.state, `${JSON.stringify(record, null, 2)}\n`);
}

/** The state to report: a server whose sshd is gone (killed, crashed, host rebooted) is `stopped`. */
export function reportedState(record: ServerRecord, paths: ServerPaths): ServerState {
  if (record.state !== 'running') return record.state;
  return isOurs(record.pids.sshd, paths.config) ? 'running' : 'stopped';
}

export function toServer(record: ServerRecord, paths: ServerPaths): Server {
  const server: Server = {
    id: record.id,
    name: record.name,
    state: reportedState(record, paths),
    image: record.image,
    size: record.size,
    addresses: record.address === undefined || record.state === 'terminated' ? {} : { public: [record.address] },
    launchedAt: record.launchedAt,
    sshPort: record.port,
    sshUser: record.loginUser,
    logPaths: [...record.logPaths],
  };
  if (record.hostKeyFingerprint !== undefined) server.hostKeyFingerprint = record.hostKeyFingerprint;
  return server;
}
