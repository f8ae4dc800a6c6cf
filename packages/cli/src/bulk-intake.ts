import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import {
  type ActionRequest,
  IntakeError,
  type Mode,
  insertActions,
  keyringProblem,
  listTenants,
  modeRefusal,
  parseRequest,
  secretArgs,
  secretRefusal,
  tenantRefusal,
} from '@cmq/actions';
import { type Keyring, errorText } from '@cmq/common';
import type { CliDb } from './cli-db';
import { failure, refused } from './command-error';

/** The requests of every good line with their line numbers, and every bad line's error. */
export interface ReadResult {
  requests: ActionRequest[];
  lines: number[];
  errors: Array<{ line: number; error: string }>;
}

/** Validates one line; returns the request or the error (without the line number). */
function parseLine(text: string): { ok: true; request: ActionRequest } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${errorText(err)}` };
  }
  return parseRequest(raw);
}

/** Reads and validates one JSON request per line (blank lines skipped), streaming. */
export async function readRequests(input: Readable): Promise<ReadResult> {
  const result: ReadResult = { requests: [], lines: [], errors: [] };
  const reader = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of reader) {
    line += 1;
    if (text.trim() === '') continue;
    const parsed = parseLine(text);
    if (parsed.ok) {
      result.requests.push(parsed.request);
      result.lines.push(line);
    } else result.errors.push({ line, error: parsed.error });
  }
  return result;
}

/**
 * Adds an error for every good line whose type the mode refuses, whose tenant is unknown or
 * disabled, or whose secret arguments no keyring can seal, before anything is inserted.
 */
async function checkRefusals(
  db: CliDb,
  read: ReadResult,
  mode: Mode,
  keyring: () => Keyring | undefined,
): Promise<void> {
  const enabled = new Map((await listTenants(db.sql)).map((t) => [t.id, t.enabled]));
  const noKeyring = read.requests.some((r) => secretArgs(r.type, r.args).length > 0)
    ? keyringProblem(keyring)
    : undefined;
  read.requests.forEach((r, i) => {
    const error =
      modeRefusal(mode, r.type) ??
      tenantRefusal(r.tenant, enabled.get(r.tenant)) ??
      (noKeyring === undefined ? undefined : secretRefusal(r, noKeyring));
    if (error !== undefined) read.errors.push({ line: read.lines[i] ?? 0, error });
  });
  read.errors.sort((a, b) => a.line - b.line);
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
}

/**
 * `cmq call --stdin`: validates every line first (any bad line: exit 2, nothing inserted), then
 * inserts in transactions of `batch` and prints one id per line, in input order.
 */
export async function submitStdin(
  db: CliDb,
  input: Readable,
  out: Writable,
  batch: number,
  actor: string,
  mode: Mode,
  keyring: () => Keyring | undefined,
): Promise<number> {
  const read = await readRequests(input);
  await checkRefusals(db, read, mode, keyring);
  if (read.errors.length > 0) {
    const report = read.errors.map((e) => `line ${e.line}: ${e.error}\n`).join('');
    throw refused(`${report}nothing inserted: ${read.errors.length} bad line${read.errors.length === 1 ? '' : 's'}`);
  }
  const { requests, lines } = read;
  for (let start = 0; start < requests.length; start += batch) {
    let ids: string[];
    try {
      ids = await insertActions(db.transaction, requests.slice(start, start + batch), actor, { mode, keyring });
    } catch (err) {
      const where = `the batch from line ${lines[start] ?? '?'}`;
      const done = `${start} of ${requests.length} requests were inserted (their ids printed)`;
      if (err instanceof IntakeError) throw refused(`${where} was refused: ${err.message}; ${done}`);
      throw failure(`${where} failed: ${errorText(err)}; ${done}`);
    }
    await write(out, ids.map((id) => `${id}\n`).join(''));
  }
  return requests.length;
}
