import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Role, csrfTokenOf, roleAtLeast } from './auth';
import { BodyTooLarge } from './body-limit';

/** A request's query string that a view could not use: 400 naming the parameter. */
export class BadQuery extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

/** The views of the navigation bar, in order: path and label. */
export const NAV: ReadonlyArray<[string, string]> = [
  ['/', 'Overview'],
  ['/actions', 'Actions'],
  ['/dead', 'Dead'],
  ['/tenants', 'Tenants'],
  ['/cloud', 'Cloud & hosts'],
  ['/events', 'Live events'],
  ['/launch', 'Launch'],
  ['/audit', 'Audit'],
  ['/users', 'Users'],
];

/** Views of the navigation bar shown only from a role up (the routes refuse the others anyway). */
const NAV_ROLE: Readonly<Record<string, Role>> = { '/launch': 'operator', '/audit': 'admin', '/users': 'admin' };

/** Views of the whole platform: not shown to a user bound to a tenant (acts/act-common.ts unbound). */
const NAV_UNBOUND: ReadonlySet<string> = new Set(['/audit', '/users']);

/** Loads a view's data; undefined: not found (404). */
export type Loader<T> = (req: FastifyRequest) => Promise<T | undefined>;

/** What the layout shows about the request: who is logged in, the CSRF token, the current view. */
export function chrome(req: FastifyRequest, path: string, title: string): Record<string, unknown> {
  const p = req.principal;
  return {
    title,
    nav: NAV.filter(
      ([href]) =>
        p !== undefined &&
        roleAtLeast(p.role, NAV_ROLE[href] ?? 'viewer') &&
        (p.tenant === null || !NAV_UNBOUND.has(href)),
    ),
    current: path,
    user: p === undefined ? null : { name: p.name, role: p.role, tenant: p.tenant },
    csrf: csrfTokenOf(req),
  };
}

/**
 * Registers a view twice from one loader: `GET /api<path>` (`/api/overview` for `/`) answers its data as JSON, and
 * `GET <path>` renders `<template>.eta` with it. The same query, the same access rules (the
 * loader applies the request's tenant scope), so the page never shows what the API would not.
 */
export function view<T>(app: FastifyInstance, path: string, template: string, title: string, load: Loader<T>): void {
  app.get(path === '/' ? '/api/overview' : `/api${path}`, async (req: FastifyRequest, reply: FastifyReply) => {
    const data = await load(req);
    if (data === undefined) return reply.code(404).send({ error: 'not found' });
    return data;
  });
  app.get(path, async (req: FastifyRequest, reply: FastifyReply) => {
    const data = await load(req);
    const nav = NAV.find(([p]) => p === path)?.[0] ?? `/${path.split('/')[1] ?? ''}`;
    if (data === undefined)
      return reply.code(404).viewAsync('not-found.eta', { ...chrome(req, nav, 'Not found'), data: { path: req.url } });
    return reply.viewAsync(`${template}.eta`, { ...chrome(req, nav, title), data });
  });
}

/** What a body over the console's limit (app.ts BODY_LIMIT_BYTES) is told. */
const TOO_LARGE =
  'the request is larger than the 1 MB the console accepts: nothing was done (arguments of an action may be at most 128 KiB)';

/** Renders an error page (or JSON under /api) for a bad query or a failure. */
export function registerErrorPages(app: FastifyInstance): void {
  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    const code = err instanceof BadQuery ? 400 : (err.statusCode ?? 500);
    if (code >= 500) req.log.error({ err }, 'request failed');
    const message =
      code >= 500
        ? 'internal error (see the console log)'
        : code === 413 && !(err instanceof BodyTooLarge)
          ? TOO_LARGE
          : err.message;
    if (req.url.startsWith('/api/') || req.principal === undefined) return reply.code(code).send({ error: message });
    return reply.code(code).viewAsync('error.eta', { ...chrome(req, '', 'Error'), data: { code, message } });
  });
}
