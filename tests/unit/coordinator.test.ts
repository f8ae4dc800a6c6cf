import { Coordinator, type Component, SchemaError, StatusBoard, SystemdNotifier } from '@cmq/common';
import pino from 'pino';
import { NotifySocket } from '../helpers/notify-socket';
import { waitFor } from '../helpers/wait';

class FakeComponent implements Component {
  destroyed = false;
  constructor(
    readonly name: string,
    private readonly events: string[],
    private readonly behaviour: {
      start?: (signal: AbortSignal) => Promise<void>;
      closeMs?: number;
      closeError?: boolean;
    } = {},
  ) {}
  async start(signal: AbortSignal): Promise<void> {
    this.events.push(`start ${this.name}`);
    await this.behaviour.start?.(signal);
  }
  async close(): Promise<void> {
    this.events.push(`close ${this.name}`);
    if (this.behaviour.closeMs) await new Promise((r) => setTimeout(r, this.behaviour.closeMs).unref());
    if (this.behaviour.closeError) throw new Error(`${this.name} close failed`);
  }
  destroy(): void {
    this.destroyed = true;
    this.events.push(`destroy ${this.name}`);
  }
}

function setup(drainTimeoutMs = 1_000, onChange?: () => void) {
  const notify = new NotifySocket();
  const exits: number[] = [];
  const coordinator = new Coordinator({
    onChange,
    logger: pino({ level: 'silent' }),
    notifier: SystemdNotifier.fromEnv({ NOTIFY_SOCKET: notify.path }, () => undefined),
    drainTimeoutMs,
    fatalTimeoutMs: 200,
    runningStatus: () => 'running: test',
    exit: (code) => exits.push(code),
  });
  return { notify, exits, coordinator };
}

it('StatusBoard: one text per thing waited for, in the order they began; a text two components share is said once', () => {
  const board = new StatusBoard();
  const changes: string[] = [];
  board.onChange(() => changes.push(board.summary()));
  const broker = 'waiting for broker at amqp://mq1:5672 (connect ECONNREFUSED)';
  board.set('amqp', broker);
  board.set('amqp-publish', broker);
  board.set('postgres', 'waiting for database at db1:5432/cmq (refused)');
  expect(board.summary()).toBe(`${broker}; waiting for database at db1:5432/cmq (refused)`);
  board.set('amqp', undefined);
  expect(board.summary()).toBe(`${broker}; waiting for database at db1:5432/cmq (refused)`);
  board.set('amqp-publish', undefined);
  board.set('postgres', undefined);
  expect(board.summary()).toBe('');
  expect(changes).toHaveLength(6);
});

describe('Coordinator', () => {
  let notify: NotifySocket;
  afterEach(() => notify.close());

  it("calls onChange (the heartbeat's refresh) on every change of state and of what is waited for, seeing the new one", async () => {
    const seen: string[] = [];
    // eslint-disable-next-line prefer-const -- set once setup() returns; its onChange reads it
    let coordinator: Coordinator | undefined;
    const t = setup(1_000, () => seen.push(`${coordinator?.state ?? '?'}|${coordinator?.status.summary() ?? '?'}`));
    coordinator = t.coordinator;
    notify = t.notify;
    let release: () => void = () => undefined;
    const db = new FakeComponent('db', [], {
      start: () =>
        new Promise<void>((r) => {
          release = r;
        }),
    });
    t.coordinator.add(db);
    const run = t.coordinator.run();
    t.coordinator.status.set('db', 'waiting for database at db1:5432/cmq (refused)');
    t.coordinator.status.set('db', undefined);
    release();
    await run;
    t.coordinator.requestStop('test');
    await waitFor(() => Promise.resolve(t.exits.length === 1), 2_000, 'the exit');
    expect(seen).toEqual([
      'starting|waiting for database at db1:5432/cmq (refused)',
      'starting|',
      'running|',
      'draining|',
      'stopped|',
    ]);
  });

  it('starts in order, says READY, drains in reverse order even when one close fails, exits 0', async () => {
    const events: string[] = [];
    const t = setup();
    notify = t.notify;
    t.coordinator
      .add(new FakeComponent('db', events))
      .add(new FakeComponent('broker', events, { closeError: true }))
      .add(new FakeComponent('worker', events));
    await t.coordinator.run();
    expect(t.coordinator.state).toBe('running');
    await notify.waitFor('READY=1');
    expect(notify.statuses()).toContain('running: test');
    t.coordinator.requestStop('SIGTERM');
    await waitFor(() => t.exits.length > 0, 5_000, 'exit');
    expect(t.exits).toEqual([0]);
    expect(events).toEqual(['start db', 'start broker', 'start worker', 'close worker', 'close broker', 'close db']);
    expect(t.coordinator.state).toBe('stopped');
    await notify.waitFor('STOPPING=1');
  });

  it('reports what a component waits for in STATUS, and READY only once it is there', async () => {
    const events: string[] = [];
    const t = setup();
    notify = t.notify;
    let release = (): void => undefined;
    t.coordinator.add(
      new FakeComponent('broker', events, {
        start: () =>
          new Promise<void>((resolve) => {
            t.coordinator.status.set('broker', 'waiting for broker at amqp://127.0.0.1:5672 (ECONNREFUSED)');
            release = () => {
              t.coordinator.status.set('broker', undefined);
              resolve();
            };
          }),
      }),
    );
    const running = t.coordinator.run();
    await waitFor(
      () => notify.statuses().includes('waiting for broker at amqp://127.0.0.1:5672 (ECONNREFUSED)'),
      5_000,
      'waiting STATUS',
    );
    expect(notify.has('READY=1')).toBe(false);
    release();
    await running;
    await notify.waitFor('READY=1');
  });

  it('a second stop request exits 1 at once, destroying everything', async () => {
    const events: string[] = [];
    const t = setup(10_000);
    notify = t.notify;
    const slow = new FakeComponent('slow', events, { closeMs: 5_000 });
    t.coordinator.add(slow);
    await t.coordinator.run();
    t.coordinator.requestStop('SIGTERM');
    t.coordinator.requestStop('SIGINT');
    expect(t.exits).toEqual([1]);
    expect(slow.destroyed).toBe(true);
  });

  it('after a forced exit, a late close, error or signal logs nothing more (the logs are gone)', async () => {
    const events: string[] = [];
    let logsGone = false;
    const write = (): void => {
      if (logsGone) throw new Error('a log line after the exit');
    };
    const rejections: unknown[] = [];
    const onRejection = (err: unknown): number => rejections.push(err);
    process.on('unhandledRejection', onRejection);
    try {
      const t = setup();
      notify = t.notify;
      const coordinator = new Coordinator({
        logger: pino({ level: 'info' }, { write }),
        notifier: SystemdNotifier.fromEnv({}, () => undefined),
        drainTimeoutMs: 10_000,
        fatalTimeoutMs: 200,
        runningStatus: () => 'running: test',
        exit: (code) => {
          t.exits.push(code);
          logsGone = true;
        },
      });
      let release = (): void => undefined;
      const late: Component = {
        name: 'late',
        start: () => Promise.resolve(),
        close: () => new Promise<void>((resolve) => (release = resolve)),
        destroy: () => undefined,
      };
      coordinator.add(new FakeComponent('first', events));
      coordinator.add(late);
      await coordinator.run();
      coordinator.requestStop('SIGTERM');
      coordinator.requestStop('SIGTERM');
      expect(t.exits).toEqual([1]);
      release();
      // Two turns of the event loop: the shutdown goes on, and a rejection of it would be reported.
      for (let i = 0; i < 2; i += 1) await new Promise((r) => setImmediate(r));
      expect(rejections).toEqual([]);
      expect(events).not.toContain('close first');
      // A fatal error or a third signal after the exit writes nothing and exits no second time.
      coordinator.fail(new Error('late uncaught error'));
      coordinator.requestStop('SIGTERM');
      expect(t.exits).toEqual([1]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('the drain deadline exits 1 and destroys what did not close', async () => {
    const events: string[] = [];
    const t = setup(300);
    notify = t.notify;
    const slow = new FakeComponent('slow', events, { closeMs: 3_000 });
    t.coordinator.add(slow);
    await t.coordinator.run();
    const started = Date.now();
    t.coordinator.requestStop('SIGTERM');
    await waitFor(() => t.exits.length > 0, 5_000, 'exit');
    expect(t.exits).toEqual([1]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(slow.destroyed).toBe(true);
  });

  it('a stop request while a dependency is still awaited aborts the start and exits 0', async () => {
    const events: string[] = [];
    const t = setup();
    notify = t.notify;
    t.coordinator
      .add(
        new FakeComponent('broker', events, {
          start: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve())),
        }),
      )
      .add(new FakeComponent('never', events));
    const running = t.coordinator.run();
    t.coordinator.requestStop('SIGTERM');
    await running;
    await waitFor(() => t.exits.length > 0, 5_000, 'exit');
    expect(t.exits).toEqual([0]);
    expect(events).not.toContain('start never');
  });

  it('a fatal error exits 70; an old schema exits 78', async () => {
    const t1 = setup();
    notify = t1.notify;
    t1.coordinator.add(new FakeComponent('x', []));
    await t1.coordinator.run();
    t1.coordinator.fail(new Error('boom'));
    await waitFor(() => t1.exits.length > 0, 5_000, 'exit');
    expect(t1.exits).toEqual([70]);
    expect(t1.coordinator.state).toBe('failed');
    notify.close();

    const t2 = setup();
    notify = t2.notify;
    t2.coordinator.add(
      new FakeComponent('db', [], { start: () => Promise.reject(new SchemaError('run `cmq migrate`')) }),
    );
    await t2.coordinator.run();
    await waitFor(() => t2.exits.length > 0, 5_000, 'exit');
    expect(t2.exits).toEqual([78]);
  });

  it('sends WATCHDOG=1 at half of WATCHDOG_USEC, and nothing when NOTIFY_SOCKET is unset', async () => {
    const t = setup();
    notify = t.notify;
    const notifier = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '200000' }, () => undefined);
    expect(notifier.watchdogIntervalMs).toBe(100);
    expect(
      SystemdNotifier.fromEnv(
        { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' },
        () => undefined,
      ).watchdogIntervalMs,
    ).toBeUndefined();
    const silent = SystemdNotifier.fromEnv({}, () => undefined);
    expect(silent.enabled).toBe(false);
    silent.ready('x');
    notifier.watchdog();
    await notify.waitFor('WATCHDOG=1');
    expect(notify.messages).toEqual(['WATCHDOG=1']);
  });
});
