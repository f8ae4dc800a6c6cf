import { ExitCode, errorText } from '../errors';
import type { Logger } from '../logging/logging';
import { type Component, type LifecycleState, StatusBoard } from './component';
import type { SystemdNotifier } from './systemd-notifier';
import { every } from './timing';

export interface CoordinatorOptions {
  logger: Logger;
  notifier: SystemdNotifier;
  /** Deadline for a graceful stop (`shutdown.drain_timeout`). */
  drainTimeoutMs: number;
  /** Deadline for the short shutdown after a fatal error. */
  fatalTimeoutMs?: number;
  /** Text of the STATUS= line while running and nothing is awaited. */
  runningStatus: () => string;
  /** Ends the process; called exactly once, after logs are flushed by the caller. */
  exit: (code: number) => void;
  /** Called after every change of the lifecycle state or of what is waited for (the heartbeat's refresh). */
  onChange?: () => void;
  /** Called with a fatal error before the process shuts down (the error reporter). */
  onFatal?: (err: unknown) => void;
}

/**
 * Owns a process's lifecycle: starts components in order, tells systemd (READY, STATUS,
 * WATCHDOG, STOPPING), drains them in reverse order on the first stop request, and exits
 * 0 (drained), 1 (second request or deadline), 70 (fatal error) or 78 (bad configuration).
 */
export class Coordinator {
  readonly status = new StatusBoard();
  private readonly components: Component[] = [];
  private current: LifecycleState = 'starting';
  private readonly startAbort = new AbortController();
  private readonly watchdogAbort = new AbortController();
  private stopping = false;
  private exited = false;
  private deadline: NodeJS.Timeout | undefined;

  constructor(private readonly opts: CoordinatorOptions) {
    this.status.onChange(() => this.publishStatus());
  }

  get state(): LifecycleState {
    return this.current;
  }

  add(component: Component): this {
    this.components.push(component);
    return this;
  }

  /** Starts every component in order; READY=1 once all of them run. */
  async run(): Promise<void> {
    this.opts.logger.info({ state: this.current }, 'state starting');
    this.startWatchdog();
    for (const component of this.components) {
      if (this.stopping) return;
      this.opts.logger.info({ component: component.name }, 'starting component');
      try {
        await component.start(this.startAbort.signal);
      } catch (err) {
        if (this.stopping) return;
        this.fail(err, (err as { code?: string }).code === 'CMQ_ERR_SCHEMA' ? ExitCode.CONFIG : ExitCode.SOFTWARE);
        return;
      }
    }
    if (this.stopping) return;
    this.setState('running');
    this.opts.notifier.ready(this.statusLine());
  }

  /** First call drains; a second call exits 1 at once. */
  requestStop(reason: string): void {
    // Once exiting, the logs are closed: a late signal or error has nothing left to do.
    if (this.exited) return;
    if (this.stopping) {
      this.opts.logger.warn({ reason }, 'second stop request: exiting now');
      this.forceExit(ExitCode.FORCED);
      return;
    }
    this.stopping = true;
    this.opts.logger.info({ reason, drainTimeoutMs: this.opts.drainTimeoutMs }, 'stopping');
    void this.shutdown(this.opts.drainTimeoutMs, ExitCode.OK, `draining (${reason})`);
  }

  /** A fatal error: log it, short shutdown, exit with `code` (70 unless given). */
  fail(err: unknown, code: number = ExitCode.SOFTWARE): void {
    if (this.exited) return;
    this.opts.logger.fatal({ err }, `fatal: ${errorText(err)}`);
    this.opts.onFatal?.(err);
    if (this.stopping) {
      this.forceExit(code);
      return;
    }
    this.stopping = true;
    this.setState('failed');
    void this.shutdown(this.opts.fatalTimeoutMs ?? 5_000, code, `failed: ${errorText(err)}`);
  }

  private async shutdown(deadlineMs: number, code: number, status: string): Promise<void> {
    if (this.current !== 'failed') this.setState('draining');
    this.opts.notifier.stopping(status);
    this.startAbort.abort();
    this.watchdogAbort.abort();
    this.deadline = setTimeout(() => {
      this.opts.logger.error({ deadlineMs }, 'shutdown deadline passed: exiting now');
      this.forceExit(code === ExitCode.OK ? ExitCode.FORCED : code);
    }, deadlineMs);
    for (const component of [...this.components].reverse()) {
      try {
        await component.close();
        // A forced exit (second signal, deadline) destroyed everything, the logs included.
        if (this.exited) return;
        this.opts.logger.info({ component: component.name }, 'component closed');
      } catch (err) {
        if (this.exited) return;
        this.opts.logger.error({ err, component: component.name }, 'component failed to close');
      }
    }
    if (this.current !== 'failed') this.setState('stopped');
    this.finish(code);
  }

  private forceExit(code: number): void {
    for (const component of this.components) {
      try {
        component.destroy();
      } catch {
        // destroy never throws by contract; a faulty one must not stop the exit
      }
    }
    this.finish(code);
  }

  private finish(code: number): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.deadline);
    this.opts.exit(code);
  }

  private setState(state: LifecycleState): void {
    if (state === this.current) return;
    const from = this.current;
    this.current = state;
    this.opts.logger.info({ from, to: state }, `state ${state}`);
    this.opts.onChange?.();
  }

  private statusLine(): string {
    const waiting = this.status.summary();
    return waiting !== '' ? waiting : this.opts.runningStatus();
  }

  private publishStatus(): void {
    this.opts.onChange?.();
    if (this.stopping) return;
    const waiting = this.status.summary();
    if (waiting !== '') this.opts.logger.warn({ waiting }, waiting);
    else this.opts.logger.info('all dependencies available');
    this.opts.notifier.status(this.statusLine());
  }

  private startWatchdog(): void {
    const interval = this.opts.notifier.watchdogIntervalMs;
    if (interval === undefined) return;
    void every(
      interval,
      this.watchdogAbort.signal,
      () => Promise.resolve(this.opts.notifier.watchdog()),
      () => undefined,
    );
  }
}
