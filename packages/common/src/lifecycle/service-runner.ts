import { accessSync, constants, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { AmqpClient } from '../adapters/amqp-client';
import { Database } from '../adapters/postgres';
import { RedisClient } from '../adapters/redis';
import type { FileSpec } from '../config/file-spec';
import { certificateFiles, expiryWarnings } from '../config/referenced-files';
import { type ProcessConfig, loadProcessConfig } from '../config/process-config';
import type { ProcessKeys } from '../config/process-keys';
import { ConfigError, ExitCode, errorCode, errorText } from '../errors';
import { type Logging, createLogging } from '../logging/logging';
import type { ServiceName } from '../names';
import { declareTopology } from '../adapters/amqp-topology';
import { type ErrorReporter, createErrorReporter } from '../adapters/error-reporter';
import { registerErrorReportMetrics } from '../metrics/error-report-metrics';
import type { Component } from './component';
import { Coordinator } from './coordinator';
import { MetricsFile } from '../metrics/metrics-file';
import { Heartbeat, type HeartbeatStats } from './heartbeat';
import { exitAfterFlush, installProcessHandlers } from './process-handlers';
import { SystemdNotifier } from './systemd-notifier';

type Env = Readonly<Record<string, string | undefined>>;

/** Everything a service gets to build its own components from. */
export interface ServiceContext<Own extends ProcessKeys> {
  readonly config: ProcessConfig<Own>;
  readonly logging: Logging;
  readonly coordinator: Coordinator;
  readonly database: Database;
  readonly redis: RedisClient;
  readonly amqp: AmqpClient;
  /** The process's Prometheus registry, written to `<metrics.dir>/<service>-<name>.prom`. */
  readonly metrics: MetricsFile;
  /** Where bugs, dead actions, fatal errors and operator warnings are reported (`sentry.*`). */
  readonly reporter: ErrorReporter;
}

export interface ServiceDefinition<Own extends ProcessKeys> {
  service: ServiceName;
  version: string;
  /** The process's own properties file for an instance (undefined: the default file). */
  ownFile: (instance: string | undefined) => FileSpec<Own>;
  /** The service's own components, started after the shared ones. */
  components: (ctx: ServiceContext<Own>) => Component[];
  heartbeatStats: (config: ProcessConfig<Own>) => HeartbeatStats;
  /** Text of STATUS= while running. */
  runningStatus: (config: ProcessConfig<Own>) => string;
}

const USAGE = (service: string): string =>
  `usage: cmq-${service} [--config-dir DIR] [--instance NAME]\n` +
  `  --config-dir DIR  configuration directory (default /etc/cmq-workers, env CMQ_CONFIG_DIR)\n` +
  `  --instance NAME   read ${service}-NAME.properties instead of ${service}.properties\n`;

/** Parses the command line; exits 64 (EX_USAGE) on a bad one. */
export function parseServiceArgs(
  service: string,
  argv: string[],
  env: Env,
): { configDir: string; instance: string | undefined } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { 'config-dir': { type: 'string' }, instance: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(USAGE(service));
      process.exit(ExitCode.OK);
    }
    const instance = values.instance;
    if (instance !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(instance))
      throw new Error(`--instance "${instance}" may hold only letters, digits, _ and -`);
    return { configDir: values['config-dir'] ?? env.CMQ_CONFIG_DIR ?? '/etc/cmq-workers', instance };
  } catch (err) {
    process.stderr.write(`cmq-${service}: ${errorText(err)}\n${USAGE(service)}`);
    process.exit(64);
  }
}

/** Loads the configuration or exits 78 with every problem on stderr, before any connection. */
export function loadOrExit<Own extends ProcessKeys>(
  def: ServiceDefinition<Own>,
  configDir: string,
  instance: string | undefined,
  env: Env,
): ProcessConfig<Own> {
  try {
    const config = loadProcessConfig(configDir, def.ownFile(instance), env);
    checkWritableDirs(config);
    return config;
  } catch (err) {
    process.stderr.write(`cmq-${def.service}: ${err instanceof ConfigError ? err.message : errorText(err)}\n`);
    process.exit(ExitCode.CONFIG);
  }
}

/** The directories a process writes (logs, metrics) must be writable before it starts. */
function checkWritableDirs(config: ProcessConfig<ProcessKeys>): void {
  const file = config.files.at(-1)?.path ?? config.dir;
  const issues = [
    ['log.dir', config.own.log.dir],
    ['metrics.dir', config.own.metrics.dir],
  ].flatMap(([key, dir]) => {
    try {
      mkdirSync(dir as string, { recursive: true });
      accessSync(dir as string, constants.W_OK);
      return [];
    } catch (err) {
      return [{ source: file, key: key as string, message: `${dir} is not a writable directory (${errorText(err)})` }];
    }
  });
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Wires a service: logging, systemd notification, PostgreSQL, Redis, RabbitMQ (with the
 * topology), the heartbeat and the service's own components, under one coordinator.
 */
export function buildService<Own extends ProcessKeys>(
  def: ServiceDefinition<Own>,
  config: ProcessConfig<Own>,
  env: Env,
  exit: (code: number) => void,
): ServiceContext<Own> {
  const { own } = config;
  const logging = createLogging({ dir: own.log.dir, service: def.service, name: own.name, level: own.log.level });
  const logger = logging.logger;
  const reporter = createErrorReporter({
    dsn: own.sentry.dsn,
    environment: own.sentry.environment,
    timeoutMs: own.sentry.timeout,
    release: def.version,
    service: def.service,
    name: own.name,
    logger: logger.child({ component: 'error-reporter' }),
  });
  const notifier = SystemdNotifier.fromEnv(env, (err) => logger.warn({ err }, 'cannot notify systemd'));
  // eslint-disable-next-line prefer-const -- assigned once below; the coordinator, made first, calls it
  let heartbeat: Heartbeat | undefined;
  const coordinator = new Coordinator({
    logger,
    notifier,
    drainTimeoutMs: own.shutdown.drain_timeout,
    runningStatus: () => def.runningStatus(config),
    exit,
    onChange: () => heartbeat?.refresh(),
    onFatal: (err) => reporter.captureException(err, { kind: 'fatal', code: errorCode(err) }),
  });
  const label = `cmq-${def.service}-${own.name}@${hostname()}:${process.pid}`;
  const database = new Database(
    config.db,
    logger.child({ component: 'postgres' }),
    coordinator.status,
    label,
    own.heartbeat.interval,
  );
  const redis = new RedisClient(
    config.redis,
    logger.child({ component: 'redis' }),
    coordinator.status,
    label.replace(/[^A-Za-z0-9_-]/g, '_'),
  );
  const amqp = new AmqpClient({
    config: config.amqp,
    connectionName: label,
    logger: logger.child({ component: 'amqp' }),
    status: coordinator.status,
    setup: declareTopology,
  });
  heartbeat = new Heartbeat({
    service: def.service,
    name: own.name,
    version: def.version,
    intervalMs: own.heartbeat.interval,
    redis,
    logger: logger.child({ component: 'heartbeat' }),
    stats: () => def.heartbeatStats(config),
    waiting: () => coordinator.status.summary(),
    state: () => coordinator.state,
  });
  const metrics = new MetricsFile({
    dir: own.metrics.dir,
    service: def.service,
    name: own.name,
    intervalMs: own.metrics.interval,
    logger: logger.child({ component: 'metrics' }),
  });
  // A certificate near its end is said for as long as the process runs: log, heartbeat, cmq check.
  for (const [i, text] of expiryWarnings(certificateFiles(config), own.tls.expiry_warning_days).entries())
    coordinator.status.set(`certificate-${i}`, text);
  registerErrorReportMetrics(metrics.registry, reporter);
  const ctx: ServiceContext<Own> = { config, logging, coordinator, database, redis, amqp, metrics, reporter };
  // Metrics first, so they close last and the final counts reach the file. Redis and the
  // heartbeat next: a process that waits for PostgreSQL or the broker at start is then seen
  // (`cmq status`, `cmq check`) saying so, and it is still seen while it drains.
  for (const component of [metrics, redis, heartbeat, database, amqp, ...def.components(ctx)])
    coordinator.add(component);
  logger.info(
    { version: def.version, configDir: config.dir, files: config.files.map((f) => f.path) },
    `cmq-${def.service} ${def.version} starting`,
  );
  return ctx;
}

/**
 * A service's whole main(): arguments, configuration (exit 78 before any connection when bad),
 * wiring, signal handlers on `proc`, then the coordinator's run.
 */
export function startService<Own extends ProcessKeys>(
  def: ServiceDefinition<Own>,
  proc: NodeJS.Process,
): ServiceContext<Own> {
  const env = proc.env;
  const { configDir, instance } = parseServiceArgs(def.service, proc.argv.slice(2), env);
  const config = loadOrExit(def, configDir, instance, env);
  const ctx: ServiceContext<Own> = buildService(def, config, env, (code) =>
    exitAfterFlush(proc, ctx.logging, code, ctx.reporter),
  );
  installProcessHandlers(proc, ctx.coordinator, ctx.logging);
  void ctx.coordinator.run();
  return ctx;
}
