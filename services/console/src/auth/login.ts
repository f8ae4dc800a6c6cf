import {
  type AuditOutcome,
  clearLoginFailures,
  createSession,
  decoyHash,
  deleteSession,
  findUserForLogin,
  loginFailureCounts,
  recordAudit,
  recordLoginFailure,
  verifyPassword,
} from '@cmq/actions';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE } from './authenticate';
import { type LoginErrors, loginPage } from './login-page';
import { originMatches, safeNext } from './request-info';
import type { AuthDeps } from './types';

interface LoginBody {
  name?: unknown;
  password?: unknown;
  next?: unknown;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export interface LoginRoutesOptions {
  /** Whether the console serves TLS: the session cookie is then Secure. */
  tls: boolean;
  stylesheet?: string;
}

async function audit(
  deps: AuthDeps,
  req: FastifyRequest,
  actor: string,
  action: string,
  outcome: AuditOutcome,
  detail?: Record<string, unknown>,
): Promise<void> {
  await recordAudit(deps.pool, {
    actor,
    actorAddress: req.ip,
    action,
    target: 'console',
    outcome,
    detail: detail ?? null,
  });
}

/** GET/POST /login and POST /logout. */
export function registerLoginRoutes(app: FastifyInstance, deps: AuthDeps, opts: LoginRoutesOptions): void {
  const { max_failures: maxFailures, window: windowMs } = deps.config.login;

  function page(reply: FastifyReply, code: number, name: string, next: string, errors?: LoginErrors): FastifyReply {
    return reply
      .code(code)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(loginPage({ name, next, errors, stylesheet: opts.stylesheet }));
  }

  app.get('/login', async (req: FastifyRequest<{ Querystring: { next?: string } }>, reply) =>
    page(reply, 200, '', safeNext(req.query.next)),
  );

  app.post('/login', async (req: FastifyRequest<{ Body: LoginBody | undefined }>, reply) => {
    const name = text(req.body?.name).trim();
    const password = text(req.body?.password);
    const next = safeNext(req.body?.next);
    if (!originMatches(req)) return page(reply, 403, name, next, { form: 'This form was sent from another site.' });
    if (name === '' || password === '')
      return page(reply, 400, name, next, {
        name: name === '' ? 'Enter your user name.' : undefined,
        password: password === '' ? 'Enter your password.' : undefined,
      });
    const counts = await loginFailureCounts(deps.pool, name, req.ip, windowMs);
    if (counts.user >= maxFailures || counts.address >= maxFailures) {
      await audit(deps, req, name, 'login', 'throttled', { by: counts.user >= maxFailures ? 'user' : 'address' });
      return page(reply, 429, name, next, { form: 'Too many failed logins: try again later.' });
    }
    const user = await findUserForLogin(deps.pool, name);
    const matches = await verifyPassword(password, user?.password_hash ?? (await decoyHash()));
    if (user === undefined || !matches || user.disabled) {
      await recordLoginFailure(deps.pool, name, req.ip, windowMs);
      const reason = user === undefined ? 'unknown user' : matches ? 'disabled' : 'wrong password';
      await audit(deps, req, name, 'login', 'failed', { reason });
      return page(reply, 401, name, next, { password: 'Wrong user name or password, or the user is disabled.' });
    }
    await clearLoginFailures(deps.pool, name);
    const session = await createSession(deps.pool, user.id, req.ip, deps.config.session.lifetime);
    await recordAudit(deps.pool, {
      actor: name,
      actorAddress: req.ip,
      action: 'login',
      target: 'console',
      outcome: 'ok',
      tenant: user.tenant,
    });
    return reply
      .setCookie(SESSION_COOKIE, session.id, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: opts.tls || req.protocol === 'https',
        maxAge: Math.floor(deps.config.session.lifetime / 1000),
      })
      .redirect(next, 302);
  });

  // Authenticated and CSRF-checked by the hooks like any other state-changing route.
  app.post('/logout', async (req, reply) => {
    const id = req.cookies[SESSION_COOKIE];
    const name = id === undefined ? undefined : await deleteSession(deps.pool, id);
    await audit(deps, req, name ?? req.principal?.name ?? '(none)', 'logout', 'ok');
    return reply.clearCookie(SESSION_COOKIE, { path: '/' }).redirect('/login', 302);
  });
}
