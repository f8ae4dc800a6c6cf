import { join } from 'node:path';
import type { CheckThresholds } from '@cmq/actions';
import fastifyStatic from '@fastify/static';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerAccountActs } from './acts/account-acts';
import { registerActionActs } from './acts/action-acts';
import { registerAuditView } from './acts/audit-view';
import { registerHostActs } from './acts/host-acts';
import { registerLaunch } from './acts/launch';
import { registerStatsReset } from './acts/stats-reset';
import { registerTenantActs } from './acts/tenant-acts';
import { registerUserActs } from './acts/user-acts';
import { registerWorkerActs } from './acts/worker-acts';
import { registerAuth } from './auth';
import { BODY_LIMIT_BYTES, refuseLargeBodies } from './body-limit';
import type { ConsoleContext } from './context';
import { registerErrorPages } from './pages';
import { registerAction } from './routes/action';
import { registerActions } from './routes/actions';
import { registerCloud } from './routes/cloud';
import { registerDead } from './routes/dead';
import { registerEvents } from './routes/events';
import { registerMetrics } from './routes/metrics';
import { registerOverview } from './routes/overview';
import { registerTenants } from './routes/tenants';

/** The package's directory (src/ or dist/ sit under it); templates and assets live beside them. */
const PACKAGE_DIR = join(__dirname, '..');
/** Front-end libraries served from node_modules (no CDN: the console's hosts often have no internet). */
const UPLOT_DIR = join(require.resolve('uplot/package.json'), '..', 'dist');

export interface AppOptions {
  /** TLS certificate and key (PEM) for HTTPS; absent: plain HTTP. */
  https?: { cert: Buffer; key: Buffer };
}

/**
 * The console's web application: authentication first (every route after it requires a
 * principal), then the templates (Eta, escaping every `<%= %>`), the static assets and the
 * views, each both a page and `/api/...` JSON.
 */
export async function buildApp(
  ctx: ConsoleContext,
  thresholds: CheckThresholds,
  opts: AppOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'http' }),
    disableRequestLogging: true,
    trustProxy: false,
    // A form or API body over 1 MB is refused (413, a clear message) before it is parsed.
    bodyLimit: BODY_LIMIT_BYTES,
    ...(opts.https === undefined ? {} : { https: opts.https }),
  }) as unknown as FastifyInstance;
  // The one place authentication is wired (services/console/src/auth).
  await registerAuth(
    app,
    { pool: ctx.database.pool, config: ctx.config.own.console, logger: ctx.logger.child({ component: 'auth' }) },
    { stylesheet: '/assets/console.css' },
  );
  refuseLargeBodies(app);
  await app.register(fastifyView, {
    engine: { eta: new Eta({ autoEscape: true, cache: true }) },
    root: join(PACKAGE_DIR, 'views'),
    layout: 'layout.eta',
    production: true,
  });
  await app.register(fastifyStatic, { root: join(PACKAGE_DIR, 'assets'), prefix: '/assets/', index: false });
  await app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: '/assets/vendor/uplot/',
    decorateReply: false,
    allowedPath: (path) => /^\/uPlot\.(iife\.min\.js|min\.css)$/.test(path),
  });
  registerErrorPages(app);
  registerOverview(app, ctx, thresholds);
  registerActions(app, ctx);
  registerAction(app, ctx);
  registerDead(app, ctx);
  registerTenants(app, ctx);
  registerCloud(app, ctx);
  registerEvents(app, ctx);
  registerLaunch(app, ctx);
  registerActionActs(app, ctx);
  registerAuditView(app, ctx);
  registerWorkerActs(app, ctx);
  registerStatsReset(app, ctx);
  registerTenantActs(app, ctx);
  registerUserActs(app, ctx);
  registerHostActs(app, ctx);
  registerAccountActs(app, ctx);
  registerMetrics(app, ctx);
  return app;
}
