import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { type ActionRequest, IntakeError, insertActions, listTenants, parseRequest } from '@cmq/actions';
import { errorText } from '@cmq/common';
import type { CliDb } from './cli-db';
import { failure, refused } from './command-error';

/** The requests of every good line, with their line numbers, and one message per bad line. */
export interface ReadResult {
  requests: ActionRequest[];
  lines: number[];
  errors: string[];
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
  let n = 0;
  for await (const text of reader) {
    n += 1;
    if (text.trim() === '') continue;
    const parsed = parseLine(text);
    if (!parsed.ok) result.errors.push(`line ${n}: ${parsed.error}`);
    else if (result.errors.length === 0) {
      result.requests.push(parsed.request);
      result.lines.push(n);
    }
  }
  return result;
}

/** Every line whose tenant does not exist, checked before anything is inserted. */
async function unknownTenants(db: CliDb, read: ReadResult): Promise<string[]> {
  const known = new Set((await listTenants(db.sql)).map((t) => t.id));
  return read.requests.flatMap((r, i) => (known.has(r.tenant) ? [] : [`line ${read.lines[i] ?? '?'}: tenant: unknown tenant "${r.tenant}" (add it with \`cmq tenants add\`)`]));
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
}

/**
 * `cmq call --stdin`: validates every line first (any bad line: exit 2, nothing inserted), then
 * inserts in transactions of `batch` and prints one id per line, in input order.
 */
export async function submitStdin(db: CliDb, input: Readable, out: Writable, batch: number, actor: string): Promise<number> {
  const read = await readRequests(input);
  if (read.errors.length > 0) throw refused(`${read.errors.join('\n')}\nnothing inserted: ${read.errors.length} bad line(s)`);
  const unknown = await unknownTenants(db, read);
  if (unknown.length > 0) throw refused(`${unknown.join('\n')}\nnothing inserted: ${unknown.length} line(s) for unknown tenants`);
  const { requests, lines } = read;
  for (let start = 0; start < requests.length; start += batch) {
    let ids: string[];
    try {
      ids = await insertActions(db.transaction, requests.slice(start, start + batch), actor);
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
