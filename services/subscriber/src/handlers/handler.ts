import type { ActionType, ArgsOf } from '@cmq/actions';
import type { Keyring, Logger, RedisClient, Sql, SshClient } from '@cmq/common';
import type { CloudServices } from './account-driver';

/** What handlers that reach machines over SSH need (guest.*). */
export interface SshServices {
  sql: Sql;
  client: SshClient;
  /** The keyring of km-client.cfg; throws a permanent CmqError when it is not configured or unreadable. */
  keyring(): Keyring;
  strictHostKeys: boolean;
  /** log.dir of the process: guest.logs.collect appends under tenants/<tenant>/guests/. */
  logDir?: string;
}

/** What a handler gets for one run of one action of type `T`. */
export interface HandlerContext<T extends ActionType = ActionType> {
  id: string;
  tenant: string;
  type: T;
  /** Parsed by the type's own schema before the handler runs. */
  args: ArgsOf<T>;
  /** 1 for the first run, 2 for the first retry... */
  attempt: number;
  /** Fires at the action timeout and when the process must stop: stop and throw. */
  signal: AbortSignal;
  logger: Logger;
  redis: RedisClient;
  /** Present in subscribers (absent in tests that need no SSH). */
  ssh?: SshServices;
  /** Present in subscribers: cloud accounts and their drivers (server.*, sync.*). */
  cloud?: CloudServices;
}

/** A handler's own verdict; errors are thrown instead (CmqError with `transient` says retry). */
export type HandlerResult =
  { status: 'succeeded'; result?: unknown } | { status: 'failed'; result?: unknown; error: string };

/** A plain module function per action type. */
export type Handler<T extends ActionType = ActionType> = (ctx: HandlerContext<T>) => Promise<HandlerResult>;
