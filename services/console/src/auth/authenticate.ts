import {
  type ConsoleUser,
  findSession,
  findUserForLogin,
  loginFailureCounts,
  recordAudit,
  recordLoginFailure,
  useApiToken,
} from '@cmq/actions';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { proxyCsrfToken } from './csrf';
import type { TrustedProxies } from './proxy';
import { isMachineRoute, isPublic, isStateChanging, pathOf, peerAddress } from './request-info';
import type { AuthDeps, Principal } from './types';

export const SESSION_COOKIE = 'cmq_session';

function principalOf(user: ConsoleUser, via: Principal['via']): Principal {
  return { userId: user.id, name: user.name, role: user.role, tenant: user.tenant, via };
}

/** The user a trusted proxy names, or undefined when the header is absent or not trusted. */
async function fromProxy(req: FastifyRequest, deps: AuthDeps, proxies: TrustedProxies): Promise<boolean> {
  if (deps.config.auth !== 'proxy') return false;
  const name = req.headers[deps.config.proxy.header.toLowerCase()];
  if (typeof name !== 'string' || name === '' || !proxies.trusts(peerAddress(req))) return false;
  const user = await findUserForLogin(deps.pool, name);
  if (user === undefined || user.disabled) {
    await recordAudit(deps.pool, {
      actor: name,
      actorAddress: req.ip,
      action: 'proxy.login',
      target: `${req.method} ${pathOf(req)}`,
      outcome: 'refused',
      detail: { reason: user === undefined ? 'unknown user' : 'disabled' },
    });
    return false;
  }
  req.principal = principalOf(user, 'proxy');
  req.csrfToken = proxyCsrfToken(user.name, user.password_hash);
  return true;
}

/** The name bad tokens are counted under in the login throttle's store (not a valid user name). */
const BAD_TOKEN = '(unknown token)';

/**
 * `Authorization: Bearer <token>`: every good use is audited. A bad one counts as a failed login
 * of its address (the login throttle's store and limits) and is audited until that address is
 * throttled; then it is refused without a row, so bad tokens cannot fill audit_log.
 */
async function fromToken(req: FastifyRequest, deps: AuthDeps): Promise<boolean> {
  const auth = req.headers.authorization;
  if (auth === undefined || !/^Bearer\s+/i.test(auth)) return false;
  const user = await useApiToken(deps.pool, auth.replace(/^Bearer\s+/i, '').trim());
  if (user === undefined) {
    const { max_failures: maxFailures, window: windowMs } = deps.config.login;
    const counts = await loginFailureCounts(deps.pool, BAD_TOKEN, req.ip, windowMs);
    if (counts.address >= maxFailures) return false;
    await recordLoginFailure(deps.pool, BAD_TOKEN, req.ip, windowMs);
  }
  await recordAudit(deps.pool, {
    actor: user?.name ?? BAD_TOKEN,
    actorAddress: req.ip,
    action: 'token.use',
    target: `${req.method} ${pathOf(req)}`,
    outcome: user === undefined ? 'failed' : 'ok',
    tenant: user?.tenant ?? null,
  });
  if (user === undefined) return false;
  req.principal = principalOf(user, 'token');
  return true;
}

async function fromSession(req: FastifyRequest, deps: AuthDeps): Promise<boolean> {
  const id = req.cookies[SESSION_COOKIE];
  if (id === undefined || id === '') return false;
  const session = await findSession(deps.pool, id);
  if (session === undefined) return false;
  req.principal = principalOf(session.user, 'session');
  req.csrfToken = session.csrfToken;
  return true;
}

/**
 * onRequest: establishes `req.principal` for every route but the public ones, from a trusted
 * proxy's header, a Bearer token or the session cookie, in that order. Without one: 401 JSON
 * for the API, /metrics and state-changing requests; a redirect to the login page otherwise.
 */
export function authenticateHook(deps: AuthDeps, proxies: TrustedProxies) {
  return async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const path = pathOf(req);
    if (isPublic(path)) return;
    if ((await fromProxy(req, deps, proxies)) || (await fromToken(req, deps)) || (await fromSession(req, deps))) return;
    if (isMachineRoute(path) || isStateChanging(req.method)) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="cmq-console"')
        .send({ error: 'not authenticated: log in or send Authorization: Bearer <token>' });
      return;
    }
    await reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 302);
  };
}
