#!/usr/bin/env node
import { type CheckThresholds, checkThresholdsOf } from '@cmq/actions';
import {
  ConfigError,
  ExitCode,
  type ServiceDefinition,
  VERSION,
  errorText,
  loadFiles,
  startService,
} from '@cmq/common';
import { type ConsoleConfig, type PingerConfig, consoleFile, pingerFile } from '@cmq/config';
import { ConsoleServer } from './console-server';
import { LiveStreams } from './live-streams';

let server: ConsoleServer | undefined;
const streams = new LiveStreams();

/** `cmq check`'s thresholds, from pinger.properties in the same directory (its defaults when absent). */
function checkThresholds(dir: string): CheckThresholds {
  try {
    const spec = pingerFile();
    return checkThresholdsOf(loadFiles(dir, [spec], process.env).get(spec.file)?.value as PingerConfig);
  } catch (err) {
    process.stderr.write(`cmq-console: ${err instanceof ConfigError ? err.message : errorText(err)}\n`);
    process.exit(ExitCode.CONFIG);
  }
}

/** The console process: see docs/console.md. The only cmq process that listens on a port. */
const definition: ServiceDefinition<ConsoleConfig> = {
  service: 'console',
  version: VERSION,
  ownFile: consoleFile,
  components: ({ config, database, redis, logging, metrics }) => {
    const logger = logging.logger.child({ component: 'console' });
    server = new ConsoleServer(
      { database, redis, config, configDir: config.dir, logger, streams, metrics: metrics.registry },
      checkThresholds(config.dir),
    );
    return [server];
  },
  heartbeatStats: () => ({ queues: [], inFlight: streams.size, processed: server?.served ?? 0, failed: 0 }),
  runningStatus: () => `running: listening on ${server?.address ?? '?'}, ${streams.size} live streams`,
};

startService(definition, process);
