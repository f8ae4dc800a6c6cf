import { EventFeed, type FeedFilter, isRowId, latestEventId, stateCounts } from '@cmq/actions';
import { errorText, sleep } from '@cmq/common';
import { type Command, InvalidArgumentError } from 'commander';
import { type CliDb, withDatabase } from '../cli-db';
import { type Env } from '../config-set';
import { eventLine } from '../event-feed';
import { EventsScreen } from '../events-screen';
import { withConfigDir } from '../options';
import { stopController } from '../live-view';

const POLL_MS = 250;
const COUNTS_MS = 2_000;
/** How many recent events the full-screen view starts with. */
const BACKFILL = 200n;

interface EventsOpts extends FeedFilter {
  configDir?: string;
  sinceId?: bigint;
  plain?: boolean;
}

function eventId(value: string): bigint {
  if (value !== '0' && !isRowId(value)) throw new InvalidArgumentError('must be an event id (an integer, 0 or more)');
  return BigInt(value);
}

/** Polls until `signal` aborts; a failed poll (database restart) is reported and retried. */
async function pollLoop(
  feed: EventFeed,
  signal: AbortSignal,
  show: (lines: string[]) => void,
  trouble: (text: string) => void,
): Promise<void> {
  let failing = false;
  while (!signal.aborted) {
    try {
      const { events, full } = await feed.poll();
      if (failing) trouble('');
      failing = false;
      if (events.length > 0) show(events.map(eventLine));
      if (full) continue;
    } catch (err) {
      if (!failing) trouble(`cannot read events: ${errorText(err)} (retrying)`);
      failing = true;
    }
    await sleep(failing ? 1_000 : POLL_MS, signal);
  }
}

/** Piped (or --plain): one line per event, written as it comes. */
function plain(feed: EventFeed, signal: AbortSignal): Promise<void> {
  return pollLoop(
    feed,
    signal,
    (lines) => process.stdout.write(`${lines.join('\n')}\n`),
    (text) => {
      if (text !== '') process.stderr.write(`cmq: events: ${text}\n`);
    },
  );
}

/** Reads keys in raw mode: `q` or Ctrl-C stops. Returns the undo. */
function watchKeys(stop: () => void): () => void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return () => undefined;
  const onData = (data: Buffer): void => {
    const key = data.toString();
    if (key === 'q' || key === 'Q' || key === '\x03') stop();
  };
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
}

async function fullScreen(
  db: CliDb,
  feed: EventFeed,
  filter: FeedFilter,
  signal: AbortSignal,
  stop: () => void,
): Promise<void> {
  const title =
    [
      filter.tenant === undefined ? '' : `tenant ${filter.tenant}`,
      filter.type === undefined ? '' : `type ${filter.type}`,
    ]
      .filter((s) => s !== '')
      .join(', ') || 'all tenants, all types';
  const screen = new EventsScreen(process.stdout, title);
  const unkeys = watchKeys(stop);
  const redraw = (): void => screen.draw();
  process.stdout.on('resize', redraw);
  screen.enter();
  const counts = async (): Promise<void> => {
    while (!signal.aborted) {
      screen.setCounts(await stateCounts(db.sql, filter).catch(() => ({})));
      screen.draw();
      await sleep(COUNTS_MS, signal);
    }
  };
  try {
    await Promise.all([
      counts(),
      pollLoop(
        feed,
        signal,
        (lines) => (screen.add(lines), screen.draw()),
        (text) => (screen.setNote(text), screen.draw()),
      ),
    ]);
  } finally {
    process.stdout.off('resize', redraw);
    unkeys();
    screen.leave();
  }
}

async function events(opts: EventsOpts, env: Env): Promise<void> {
  const full = process.stdout.isTTY && opts.plain !== true;
  const abort = stopController();
  const signal = abort.signal;
  const filter: FeedFilter = { tenant: opts.tenant, type: opts.type };
  await withDatabase(opts.configDir, env, async (db) => {
    const latest = await latestEventId(db.sql);
    const from = opts.sinceId ?? (full ? (latest > BACKFILL ? latest - BACKFILL : 0n) : latest);
    const feed = new EventFeed(db.sql, filter, from);
    await (full ? fullScreen(db, feed, filter, signal, () => abort.abort()) : plain(feed, signal));
  });
}

/** `cmq events`: action transitions as they happen, full-screen in a terminal, streamed when piped. */
export function registerEventsCommand(program: Command, env: Env): void {
  withConfigDir(program.command('events'))
    .description(
      'live action transitions (time, tenant, type, id, from → to, actor, duration); full-screen in a terminal, one line per event when piped',
    )
    .option('--tenant <tenant>', "only this tenant's actions")
    .option('--type <type>', 'only actions of this type')
    .option(
      '--since-id <n>',
      'start after this event id (default: new events only; full-screen shows the last 200)',
      eventId,
    )
    .option('--plain', 'one line per event even in a terminal')
    .action((opts: EventsOpts) => events(opts, env));
}
