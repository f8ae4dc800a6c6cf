import { hostname } from 'node:os';
import { Scope, type Event, type EventHint, createStackParser, createTransport, makeDsn } from '@sentry/core';
import { ServerRuntimeClient, nodeStackLineParser } from '@sentry/core/server';
import type { Logger } from '../logging/logging';
import { redactDeep, redactText } from '../logging/redaction';

/** What kind of problem a report is: the `kind` tag, and the first part of its fingerprint. */
export type ReportKind = 'bug' | 'dead' | 'failed' | 'fatal' | 'warning';

/** What a report is about: its tags, and the code it groups by. */
export interface ReportContext {
  kind: ReportKind;
  /** Groups the report with others of its kind and type (an error code, an error name). */
  code: string;
  tenant?: string;
  action?: string;
  /** An action type, or for an operator warning what it is about (a family, a component). */
  type?: string;
  attempt?: number;
  /** More detail, scrubbed like the rest. */
  extra?: Record<string, unknown>;
}

export interface ErrorReporterOptions {
  /** `sentry.dsn`: empty turns reporting off. */
  dsn: string;
  environment: string;
  release: string;
  service: string;
  name: string;
  /** `sentry.timeout`: how long one send may take before it is abandoned and counted as dropped. */
  timeoutMs: number;
  logger: Logger;
}

/**
 * Where a process's errors go to be seen by the people who fix them (a Sentry or compatible
 * ingest). Reports are fire-and-forget: they never throw, never wait, and an ingest that is
 * down, slow or refusing only adds to `dropped`.
 */
export interface ErrorReporter {
  readonly enabled: boolean;
  /** Events not delivered, by reason (network_error, send_error, queue_overflow, ratelimit_backoff...). */
  readonly dropped: ReadonlyMap<string, number>;
  /** Events the ingest accepted. */
  readonly sent: number;
  captureException(err: unknown, ctx: ReportContext): void;
  captureMessage(message: string, ctx: ReportContext): void;
  /** Waits at most `timeoutMs` for the events under way; true when all went out. */
  flush(timeoutMs: number): Promise<boolean>;
}

/** The reporter of a process with no `sentry.dsn`: reports nothing. */
export const NO_REPORTER: ErrorReporter = {
  enabled: false,
  dropped: new Map(),
  sent: 0,
  captureException: () => undefined,
  captureMessage: () => undefined,
  flush: () => Promise.resolve(true),
};

/** The reporter `opts.dsn` asks for (NO_REPORTER when empty). @throws Error on a DSN that does not parse. */
export function createErrorReporter(opts: ErrorReporterOptions): ErrorReporter {
  return opts.dsn === '' ? NO_REPORTER : new SentryReporter(opts);
}

/** Whether `dsn` is empty or a DSN the SDK accepts (for the config format). */
export function isValidDsn(dsn: string): boolean {
  return dsn === '' || makeDsn(dsn) !== undefined;
}

class CountingClient extends ServerRuntimeClient {
  onDrop: (reason: string, count: number) => void = () => undefined;

  override recordDroppedEvent(...args: Parameters<ServerRuntimeClient['recordDroppedEvent']>): void {
    const [reason, category, count] = args;
    if (category === 'error' || category === 'default') this.onDrop(reason, count ?? 1);
    super.recordDroppedEvent(...args);
  }
}

class SentryReporter implements ErrorReporter {
  readonly enabled = true;
  readonly dropped = new Map<string, number>();
  sent = 0;
  private readonly client: CountingClient;
  private readonly scope = new Scope();
  private readonly logger: Logger;

  constructor(private readonly opts: ErrorReporterOptions) {
    if (makeDsn(opts.dsn) === undefined)
      throw new Error('sentry.dsn does not parse as <scheme>://<key>@<host>/<project>');
    this.logger = opts.logger;
    this.client = new CountingClient({
      dsn: opts.dsn,
      environment: opts.environment,
      release: opts.release,
      serverName: hostname(),
      platform: 'node',
      runtime: { name: 'node', version: process.version },
      integrations: [],
      sendClientReports: false,
      maxBreadcrumbs: 0,
      stackParser: createStackParser(nodeStackLineParser()),
      transport: (options) => createTransport(options, (request) => this.post(options.url, request.body)),
      beforeSend: (event) => scrubEvent(event),
      beforeBreadcrumb: (crumb) => redactDeep(crumb),
    });
    this.client.onDrop = (reason, count) => this.drop(reason, count);
    this.scope.setClient(this.client);
    this.scope.setTags({ service: opts.service, process: opts.name, host: hostname() });
    this.client.init();
  }

  captureException(err: unknown, ctx: ReportContext): void {
    this.safely(() => this.client.captureException(err, hint(ctx), this.scoped(ctx)));
  }

  captureMessage(message: string, ctx: ReportContext): void {
    this.safely(() => this.client.captureMessage(message, levelOf(ctx.kind), hint(ctx), this.scoped(ctx)));
  }

  async flush(timeoutMs: number): Promise<boolean> {
    try {
      return await this.client.flush(timeoutMs);
    } catch {
      return false;
    }
  }

  private scoped(ctx: ReportContext): Scope {
    const scope = this.scope.clone();
    const tags: Record<string, string> = { kind: ctx.kind, code: ctx.code };
    if (ctx.tenant !== undefined) tags.tenant = ctx.tenant;
    if (ctx.action !== undefined) tags.action_id = ctx.action;
    if (ctx.type !== undefined) tags.type = ctx.type;
    if (ctx.attempt !== undefined) tags.attempt = String(ctx.attempt);
    scope.setTags(tags);
    scope.setLevel(levelOf(ctx.kind));
    // Grouped by what went wrong where, never by message text (it holds ids and counts).
    scope.setFingerprint([ctx.kind, ctx.type ?? this.opts.service, ctx.code]);
    if (ctx.extra !== undefined) scope.setExtras(ctx.extra);
    return scope;
  }

  /**
   * One POST of an envelope, abandoned after `sentry.timeout`. A send that fails or times out
   * (network_error) and a 413 (send_error) are counted by the SDK (recordDroppedEvent); other
   * refusals here: a 429 (ratelimit, after which the SDK backs off) or another 4xx/5xx (send_error).
   */
  private async post(url: string, body: string | Uint8Array): Promise<{ statusCode: number; headers: RateHeaders }> {
    const res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-sentry-envelope' },
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) this.sent += 1;
    else if (res.status !== 413) this.drop(res.status === 429 ? 'ratelimit' : 'send_error', 1);
    return {
      statusCode: res.status,
      headers: {
        'x-sentry-rate-limits': res.headers.get('x-sentry-rate-limits'),
        'retry-after': res.headers.get('retry-after'),
      },
    };
  }

  private drop(reason: string, count: number): void {
    const before = this.dropped.get(reason) ?? 0;
    this.dropped.set(reason, before + count);
    // One line for the first drop of each reason: the metrics count the rest.
    if (before === 0) this.logger.warn({ reason }, 'error report not delivered (counted in the metrics)');
  }

  /** A report that fails to be made is counted, never thrown at the caller. */
  private safely(report: () => void): void {
    try {
      report();
    } catch (err) {
      this.drop('internal_error', 1);
      this.logger.warn({ err: redactText(String(err)) }, 'error report not made');
    }
  }
}

/** The response headers the SDK's rate limiting reads. */
type RateHeaders = { 'x-sentry-rate-limits': string | null; 'retry-after': string | null };

function levelOf(kind: ReportKind): 'fatal' | 'warning' | 'error' {
  return kind === 'fatal' || kind === 'warning' ? kind : 'error';
}

function hint(ctx: ReportContext): EventHint {
  return { mechanism: { type: `cmq.${ctx.kind}`, handled: ctx.kind !== 'fatal' } };
}

/** The whole event scrubbed: message, exception values, frames' source lines, breadcrumbs, extra, request. */
export function scrubEvent<E extends Event>(event: E): E {
  return redactDeep(event);
}
