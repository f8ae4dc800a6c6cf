import type { FastifyRequest } from 'fastify';

/** The request's path without its query string. */
export function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return q === -1 ? req.url : req.url.slice(0, q);
}

/** The address of the peer that connected (never taken from a header). */
export function peerAddress(req: FastifyRequest): string {
  return req.socket.remoteAddress ?? req.ip;
}

/** Routes anyone may reach: the login page and the static assets it and every page need. */
export function isPublic(path: string): boolean {
  return path === '/login' || path.startsWith('/assets/');
}

/** Routes that answer machines: 401 JSON rather than a redirect to the login page. */
export function isMachineRoute(path: string): boolean {
  return path === '/metrics' || path === '/api' || path.startsWith('/api/');
}

/** Methods that change state: they need the CSRF token and a same-origin Origin. */
export function isStateChanging(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/**
 * Whether the request's Origin header, when present, names this console (same host and port
 * as the Host header the browser used). An absent Origin passes: the CSRF token still decides.
 */
export function originMatches(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/**
 * A local path to return to after login (`/actions?state=dead`), never another site: not `//host`,
 * no backslash (`/\\host`), and no control character at all (browsers drop tabs and newlines
 * from a URL, so `/<tab>/host` would become `//host`).
 */
export function safeNext(next: unknown): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  if (typeof next !== 'string' || !/^\/(?!\/)[^\\\u0000-\u001f\u007f]*$/.test(next)) return '/';
  return next;
}
