import { EventFeed, type FeedFilter, latestEventId } from '@cmq/actions';
import { errorText } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { idParam, queryOf, textParam } from '../query-params';
import { scopedTenant } from '../scope';

/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** Most events read per poll; a full read polls again at once. */
const BATCH = 500;
/** Live streams one user may hold open at once (each polls PostgreSQL); more answer 429. */
export const MAX_STREAMS_PER_USER = 10;

export interface EventsView {
  filter: { tenant: string | null; type: string | null };
}

/** Where a stream starts: after the browser's Last-Event-ID (a reconnect loses nothing), else now. */
async function startId(ctx: ConsoleContext, req: FastifyRequest): Promise<bigint> {
  const last = req.headers['last-event-id'];
  const text = typeof last === 'string' ? last : queryOf(req).after;
  if (text !== undefined && /^\d{1,19}$/.test(text)) return BigInt(text);
  return latestEventId(ctx.database.sql);
}

/**
 * GET /api/live: the `cmq events` stream as server-sent events (`event: action`, `id:` the
 * action_events id), read from PostgreSQL by polling `action_events` by id (EventFeed), limited to
 * the principal's tenant. Each stream holds only its last id: nothing is cached, so memory stays
 * flat and two consoles send the same events.
 */
async function liveStream(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const q = queryOf(req);
  const filter: FeedFilter = {
    tenant: scopedTenant(req, textParam('tenant', q.tenant, 63)) ?? undefined,
    type: textParam('type', q.type, 100),
  };
  const action = idParam('action', q.action);
  const owner = req.principal?.name ?? '';
  if (ctx.streams.ownedBy(owner) >= MAX_STREAMS_PER_USER) {
    await reply.code(429).send({ error: `at most ${MAX_STREAMS_PER_USER} live streams per user: close a live page` });
    return;
  }
  const res = reply.raw;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    res.end();
  };
  const remove = ctx.streams.add(stop, owner);
  if (remove === false) {
    await reply.code(503).send({ error: 'the console is shutting down' });
    return;
  }
  // Before the first await: a client gone while the start id is read still ends the stream.
  res.on('close', () => {
    remove();
    stopped = true;
    clearTimeout(timer);
  });
  let from: bigint;
  try {
    from = await startId(ctx, req);
  } catch (err) {
    remove();
    throw err;
  }
  const feed = new EventFeed(ctx.database.sql, filter, from);
  reply.hijack();
  if (stopped || res.destroyed) {
    remove();
    res.destroy();
    return;
  }
  const pollMs = ctx.config.own.console.live.poll_interval;
  res.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write(`retry: ${Math.max(1_000, pollMs)}\n\n`);
  let quietSince = Date.now();
  const tick = async (): Promise<void> => {
    if (stopped || res.destroyed) return;
    let full = false;
    try {
      const read = await feed.poll(BATCH);
      full = read.full;
      for (const e of read.events) {
        if (action !== undefined && e.action_id !== action) continue;
        res.write(`id: ${e.id}\nevent: action\ndata: ${JSON.stringify(e)}\n\n`);
        quietSince = Date.now();
      }
      if (Date.now() - quietSince > KEEPALIVE_MS) {
        res.write(': keepalive\n\n');
        quietSince = Date.now();
      }
    } catch (err) {
      req.log.warn({ err: errorText(err) }, 'live stream: reading events failed; retrying');
    }
    if (!stopped && !res.destroyed) timer = setTimeout(() => void tick(), full ? 0 : pollMs);
  };
  await tick();
}

/** GET /events (the page) and GET /api/live (the stream every live page listens to). */
export function registerEvents(app: FastifyInstance, ctx: ConsoleContext): void {
  view<EventsView>(app, '/events', 'events', 'Live events', (req) => {
    const q = queryOf(req);
    return Promise.resolve({
      filter: {
        tenant: scopedTenant(req, textParam('tenant', q.tenant, 63)),
        type: textParam('type', q.type, 100) ?? null,
      },
    });
  });
  app.get('/api/live', (req, reply) => liveStream(ctx, req, reply));
}
