import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { scopedTenant } from '../scope';

/**
 * GET /metrics: the console's own Prometheus registry (the one its metrics file is written from),
 * in text exposition format. Behind authentication like every route (a session or a Bearer API
 * token; Flower leaves it open): the hook registered before it answers 401 without one. The
 * process's figures are the platform's, so, like the overview's charts, not for a user bound to a
 * tenant. The registry is read per request: registering the route touches nothing.
 */
export function registerMetrics(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/metrics', async (req, reply) => {
    if (scopedTenant(req, undefined) !== null)
      return reply.code(403).send({ error: 'the console metrics are not shown to a user bound to a tenant' });
    const text = await ctx.metrics.metrics();
    return reply.type(ctx.metrics.contentType).send(text);
  });
}
