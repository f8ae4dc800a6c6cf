import { ACTION_STATES } from '@cmq/common';

const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';
const KEEP = 2_000;

/**
 * The full-screen view of `cmq events`: the alternate screen, a header with counts by state,
 * then the latest events filling the rest, newest at the bottom. `leave()` restores the terminal.
 */
export class EventsScreen {
  private readonly lines: string[] = [];
  private counts: Record<string, number> = {};
  private note = '';
  private entered = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly title: string,
  ) {}

  enter(): void {
    this.entered = true;
    this.out.write(ENTER);
  }

  leave(): void {
    if (!this.entered) return;
    this.entered = false;
    this.out.write(LEAVE);
  }

  add(lines: readonly string[]): void {
    this.lines.push(...lines);
    if (this.lines.length > KEEP) this.lines.splice(0, this.lines.length - KEEP);
  }

  setCounts(counts: Record<string, number>): void {
    this.counts = counts;
  }

  /** A line shown under the header (a lost database connection), or '' for none. */
  setNote(note: string): void {
    this.note = note;
  }

  draw(): void {
    if (!this.entered) return;
    const rows = Math.max(this.out.rows ?? 24, 5);
    const cols = Math.max(this.out.columns ?? 80, 20);
    const counts =
      ACTION_STATES.filter((s) => (this.counts[s] ?? 0) > 0)
        .map((s) => `${s} ${this.counts[s]}`)
        .join('  ') || 'no actions';
    const header = [`cmq events  ${this.title}  ${new Date().toISOString()}  (q quits)`, counts, this.note];
    const room = rows - header.length;
    const body = this.lines.slice(-room);
    const screen = [...header, ...body, ...Array<string>(room - body.length).fill('')].map((l) => l.slice(0, cols));
    this.out.write(`\x1b[H${screen.join('\x1b[K\r\n')}\x1b[K\x1b[J`);
  }
}
