import type { Role } from '@cmq/actions';
import type { Logger, Sql } from '@cmq/common';
import type { ConsoleConfig } from '@cmq/config';

export type { Role } from '@cmq/actions';

/** Who is making a request, and how that was established. */
export interface Principal {
  userId: number;
  name: string;
  role: Role;
  /** The tenant every query of the request is limited to; null: all tenants. */
  tenant: string | null;
  via: 'session' | 'token' | 'proxy';
}

export interface AuthDeps {
  /** A pg Pool (or anything that runs a statement: the stores need nothing more). */
  pool: Sql;
  config: ConsoleConfig['console'];
  logger: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The session's CSRF token (absent for token and proxy requests). */
    csrfToken?: string;
  }
}
