/** Which output stream of a remote command. */
export type SshStream = 'stdout' | 'stderr';

/**
 * Receives a remote command's output line by line as it arrives (for the tenant log). Lines are
 * passed until the stream's bytes reach ssh.output_cap; then `truncated` is called once for
 * that stream and nothing more of it is passed.
 */
export interface SshOutputListener {
  line(stream: SshStream, text: string): void;
  truncated(stream: SshStream): void;
}

/** A byte-capped collector of one output stream. */
export class Capped {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Splits one stream into lines for a listener, within the same byte cap as the result: a line
 * is passed when its newline arrives (a last line without one at `end`), `\r` before the newline
 * dropped; bytes past the cap are never passed (the line they cut is passed up to the cap).
 */
export class LineTap {
  private pending: Buffer[] = [];
  private size = 0;
  private cut = false;

  constructor(
    private readonly stream: SshStream,
    private readonly cap: number,
    private readonly listener: SshOutputListener,
  ) {}

  push(chunk: Buffer): void {
    if (this.cut) return;
    const room = this.cap - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
    this.size += kept.length;
    let start = 0;
    for (let nl = kept.indexOf(0x0a); nl !== -1; nl = kept.indexOf(0x0a, start)) {
      this.pending.push(kept.subarray(start, nl));
      this.flush();
      start = nl + 1;
    }
    if (start < kept.length) this.pending.push(kept.subarray(start));
    if (kept.length < chunk.length) {
      this.flush();
      this.cut = true;
      this.listener.truncated(this.stream);
    }
  }

  /** The stream ended: pass a last line that had no newline. */
  end(): void {
    this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const text = Buffer.concat(this.pending).toString('utf8').replace(/\r$/, '');
    this.pending = [];
    this.listener.line(this.stream, text);
  }
}

/** At most this much stdout is held back while looking for the process-group line. */
const SNIFF_LIMIT = 16 * 1024;

/**
 * Finds and removes the line `cmq-pgid:<nonce>:<pid>` that the wrapped command prints first on
 * stdout (a shell start-up file may print before it), passing every other byte on unchanged.
 * Output is held back until the line is found or SNIFF_LIMIT bytes came without it (then
 * everything is passed and no process group is known).
 */
export class PgidSniffer {
  private held: Buffer[] = [];
  private heldSize = 0;
  private done = false;
  private resolveGroup!: (pgid: number | undefined) => void;
  /** The remote process group, or undefined once it is clear it will not come. */
  readonly group: Promise<number | undefined> = new Promise((resolve) => (this.resolveGroup = resolve));

  constructor(
    private readonly nonce: string,
    private readonly sink: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.done) {
      this.sink(chunk);
      return;
    }
    this.held.push(chunk);
    this.heldSize += chunk.length;
    const all = Buffer.concat(this.held);
    const tag = Buffer.from(`cmq-pgid:${this.nonce}:`);
    const at = all.indexOf(tag);
    const nl = at === -1 ? -1 : all.indexOf(0x0a, at);
    if (nl !== -1) {
      const pid = Number(all.subarray(at + tag.length, nl).toString('latin1'));
      this.finish(
        Number.isSafeInteger(pid) && pid > 1 ? pid : undefined,
        Buffer.concat([all.subarray(0, at), all.subarray(nl + 1)]),
      );
    } else if (this.heldSize > SNIFF_LIMIT) this.finish(undefined, all);
  }

  /** stdout ended (or the command is being killed): pass on what is held. */
  end(): void {
    if (!this.done) this.finish(undefined, Buffer.concat(this.held));
  }

  private finish(pgid: number | undefined, rest: Buffer): void {
    this.done = true;
    this.held = [];
    this.resolveGroup(pgid);
    if (rest.length > 0) this.sink(rest);
  }
}
