import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createSocket } from 'unix-dgram';
import { tempDir } from './config-dir';
import { waitFor } from './wait';

/** A fake systemd notify socket: a unix datagram listener that keeps every message. */
export class NotifySocket {
  readonly path: string;
  readonly messages: string[] = [];
  private readonly socket = createSocket('unix_dgram', (buf: Buffer) => {
    this.messages.push(buf.toString());
  });

  constructor() {
    this.path = join(tempDir('cmq-notify-'), 'notify.sock');
    this.socket.bind(this.path);
  }

  /** Every `STATUS=` value received, in order. */
  statuses(): string[] {
    return this.messages
      .flatMap((m) => m.split('\n'))
      .filter((l) => l.startsWith('STATUS='))
      .map((l) => l.slice(7));
  }

  has(line: string): boolean {
    return this.messages.some((m) => m.split('\n').includes(line));
  }

  async waitFor(line: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.has(line), timeoutMs, `notify message ${line}; got ${JSON.stringify(this.messages)}`);
  }

  close(): void {
    this.socket.close();
    rmSync(this.path, { force: true });
  }
}
