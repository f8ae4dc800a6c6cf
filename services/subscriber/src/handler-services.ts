import { type Database, Keyring, type ProcessConfig, SshClient } from '@cmq/common';
import type { SubscriberConfig } from '@cmq/config';
import type { CloudServices, SshServices } from './handlers';

/** What the handlers reach beyond their arguments: SSH for guest.* and node.*, cloud accounts for server.* and sync.*. */
export interface HandlerServices {
  /** Its pooled connections are closed when the subscriber stops. */
  ssh: SshServices;
  cloud: CloudServices;
  /** The same keyring for intake, which seals a direct request's secret arguments: undefined when km.keys_file is unset. */
  keyringIfSet: () => Keyring | undefined;
}

/**
 * The handlers' services. The keyring of km-client.cfg is read once, on first use: a subscriber
 * without guest or cloud work or secret arguments needs none.
 */
export function handlerServices(config: ProcessConfig<SubscriberConfig>, database: Database): HandlerServices {
  let keyring: Keyring | undefined;
  const keyringIfSet = (): Keyring | undefined => (keyring ??= Keyring.ifSet(config.km));
  // Unset, fromConfig throws the error that names the settings to fill in.
  const keyringOnce = (): Keyring => keyringIfSet() ?? Keyring.fromConfig(config.km);
  return {
    ssh: {
      get sql() {
        return database.sql;
      },
      client: new SshClient(config.provisioning),
      keyring: keyringOnce,
      strictHostKeys: config.provisioning.ssh.strict_host_keys,
      logDir: config.own.log.dir,
    },
    cloud: {
      get sql() {
        return database.sql;
      },
      keyring: keyringOnce,
      provisioning: config.provisioning,
      transaction: (fn) => database.transaction(fn),
    },
    keyringIfSet,
  };
}
