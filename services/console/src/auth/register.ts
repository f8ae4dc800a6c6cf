import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import { authenticateHook } from './authenticate';
import { checkCsrf } from './csrf';
import { helmetOptions } from './headers';
import { registerLoginRoutes } from './login';
import { TrustedProxies } from './proxy';
import type { AuthDeps } from './types';

export interface RegisterAuthOptions {
  /** The console's stylesheet for the login page (e.g. `/assets/console.css`). */
  stylesheet?: string;
}

/**
 * Registers cookie + helmet (CSP without inline script, frame-ancestors 'none'), form bodies
 * (unless already registered), GET/POST /login, POST /logout, the onRequest hook that
 * authenticates every route except /login and /assets/* (session cookie, Bearer token, or the
 * proxy header from a trusted address), and the preHandler CSRF check for state-changing
 * requests. Call it on the root instance before the routes it protects.
 */
export async function registerAuth(
  app: FastifyInstance,
  deps: AuthDeps,
  opts: RegisterAuthOptions = {},
): Promise<void> {
  const tls = deps.config.tls.cert !== '';
  await app.register(cookie);
  await app.register(helmet, helmetOptions(tls));
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) await app.register(formbody);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('csrfToken', undefined);
  app.addHook('onRequest', authenticateHook(deps, new TrustedProxies(deps.config.proxy.addresses)));
  app.addHook('preHandler', checkCsrf);
  registerLoginRoutes(app, deps, { tls, stylesheet: opts.stylesheet });
}
