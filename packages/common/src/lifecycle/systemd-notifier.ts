import { createSocket } from 'unix-dgram';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * sd_notify(3) for a Node process: sends READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 as
 * datagrams to `$NOTIFY_SOCKET` from the main pid (so units need only NotifyAccess=main).
 * Plain Node cannot open a unix datagram socket, hence the small native `unix-dgram` addon.
 * When `NOTIFY_SOCKET` is unset every method does nothing.
 */
export class SystemdNotifier {
  private lastStatus = '';

  private constructor(
    private readonly socketPath: string | undefined,
    /** Half of `WATCHDOG_USEC`, in ms, when systemd expects watchdog pings from this pid. */
    readonly watchdogIntervalMs: number | undefined,
    private readonly onError: (err: Error) => void,
  ) {}

  static fromEnv(env: Env, onError: (err: Error) => void): SystemdNotifier {
    const socket = env.NOTIFY_SOCKET;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const interval =
      socket && Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : undefined;
    const path = socket?.startsWith('@') ? `\0${socket.slice(1)}` : socket;
    return new SystemdNotifier(path || undefined, interval, onError);
  }

  get enabled(): boolean {
    return this.socketPath !== undefined;
  }

  ready(status: string): void {
    this.lastStatus = status;
    this.send(`READY=1\nSTATUS=${status}`);
  }

  /** Sends STATUS= (only when it changed). */
  status(text: string): void {
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.send(`STATUS=${text}`);
  }

  stopping(status: string): void {
    this.lastStatus = status;
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }

  watchdog(): void {
    this.send('WATCHDOG=1');
  }

  private send(message: string): void {
    if (this.socketPath === undefined) return;
    const buf = Buffer.from(message);
    try {
      const socket = createSocket('unix_dgram');
      socket.on('error', (err: Error) => this.onError(err));
      socket.send(buf, 0, buf.length, this.socketPath, (err?: Error) => {
        if (err) this.onError(err);
        socket.close();
      });
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
