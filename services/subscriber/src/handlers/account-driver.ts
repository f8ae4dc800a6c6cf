import {
  type AccountInfo,
  CLOUD_PROVIDERS,
  type CloudProvider,
  type Provider,
  getAccountSecret,
  isCloudProvider,
} from '@cmq/actions';
import {
  CmqError,
  type Keyring,
  type ProvisioningConfig,
  type RedisClient,
  type Sql,
  type Transactor,
} from '@cmq/common';
import { type Driver, Ec2Driver, LocalDriver, RateLimitedDriver, RateLimiter } from '@cmq/drivers';

/** What the cloud handlers (server.*, sync.*) need besides the action itself. */
export interface CloudServices {
  sql: Sql;
  /** The keyring of km-client.cfg; throws a permanent CmqError when it is not configured. */
  keyring(): Keyring;
  provisioning: ProvisioningConfig;
  /** Runs `fn` in one database transaction (sync.* record what they saw atomically). */
  transaction: Transactor;
}

/** An account's driver, already behind the account's token bucket. */
/** An account of a cloud provider (server.*, sync.* of the cloud kinds). */
export type CloudAccountInfo = AccountInfo & { provider: CloudProvider };

export interface AccountDriver {
  account: CloudAccountInfo;
  driver: Driver;
  /** Decrypted credentials (JSON object); for handlers that need the SSH key of a local account. Never log it. */
  credentials: Record<string, unknown>;
  /** Releases the provider client's sockets (EC2 keeps keep-alive connections); call when done. */
  close(): void;
}

type DriverMaker = (
  account: AccountInfo,
  credentials: Record<string, unknown>,
  provisioning: ProvisioningConfig,
) => Driver;

/** A string field of decrypted credentials. @throws CmqError CMQ_ERR_ACCOUNT when it is missing. */
export function credential(creds: Record<string, unknown>, key: string): string {
  const v = creds[key];
  if (typeof v !== 'string')
    throw new CmqError('CMQ_ERR_ACCOUNT', `account credentials lack "${key}" (cmq accounts add --credentials-file)`);
  return v;
}

/** One constructor per provider; `cmq accounts add` validated the credentials' shape. */
const MAKERS: Readonly<Record<CloudProvider, DriverMaker>> = {
  ec2: (account, creds) => {
    const sessionToken = creds.session_token;
    return new Ec2Driver({
      region: account.region,
      ...(account.endpoint !== null ? { endpoint: account.endpoint } : {}),
      credentials: {
        accessKeyId: credential(creds, 'access_key_id'),
        secretAccessKey: credential(creds, 'secret_access_key'),
        ...(typeof sessionToken === 'string' ? { sessionToken } : {}),
      },
    });
  },
  // Every account's servers live under provisioning.cfg cloud.local.state_dir, on cloud.local.ssh_port,
  // admitting cloud.local.login_user (empty: the user running the subscriber; a subscriber running
  // as root then refuses to launch: root is served only when named, cloud.local.login_user=root).
  local: (account, creds, provisioning) => {
    const { state_dir, ssh_port, forget_after, login_user } = provisioning.cloud.local;
    const loginUser = login_user.trim();
    return new LocalDriver({
      stateDir: state_dir,
      account: account.id,
      authorizedKey: credential(creds, 'ssh_public_key'),
      sshPort: ssh_port,
      forgetAfterMs: forget_after,
      ...(loginUser === '' ? {} : { loginUser }),
    });
  },
};

/**
 * The driver of `accountId`, which must belong to `tenant` and be enabled: credentials decrypted
 * only now, the provider's client behind the account's Redis token bucket (provisioning.cfg
 * cloud.rate/cloud.burst, or the account's own rate/burst).
 * @throws CmqError (permanent) for an unknown, foreign or disabled account.
 */
export async function accountDriver(
  cloud: CloudServices,
  redis: RedisClient,
  tenant: string,
  accountId: string,
): Promise<AccountDriver> {
  const found = await accountCredentials(cloud, tenant, accountId, CLOUD_PROVIDERS);
  const { credentials } = found;
  const provider = found.account.provider;
  if (!isCloudProvider(provider)) throw new Error(`unreachable: a ${provider} account passed the cloud provider check`);
  const account: CloudAccountInfo = { ...found.account, provider };
  const limiter = new RateLimiter(redis, {
    rate: cloud.provisioning.cloud.rate,
    burst: cloud.provisioning.cloud.burst,
  });
  const inner = MAKERS[provider](account, credentials, cloud.provisioning);
  const rateAccount = {
    id: account.id,
    ...(account.rate !== null ? { rate: account.rate } : {}),
    ...(account.burst !== null ? { burst: account.burst } : {}),
  };
  const close = (): void => {
    if (inner instanceof Ec2Driver) inner.destroy();
  };
  return { account, driver: new RateLimitedDriver(inner, limiter, rateAccount), credentials, close };
}

/**
 * The account `accountId` of `tenant`, enabled and of one of `providers`, with its credentials
 * decrypted only now (never log them).
 * @throws CmqError (permanent) for an unknown, foreign or disabled account, or one of another provider.
 */
export async function accountCredentials(
  cloud: CloudServices,
  tenant: string,
  accountId: string,
  providers: readonly Provider[],
): Promise<{ account: AccountInfo; credentials: Record<string, unknown> }> {
  const secret = await getAccountSecret(cloud.sql, accountId);
  if (secret === undefined || secret.tenant_id !== tenant)
    throw new CmqError(
      'CMQ_ERR_ACCOUNT_UNKNOWN',
      `tenant "${tenant}" has no account ${accountId} (cmq accounts list --tenant ${tenant})`,
    );
  if (!secret.enabled)
    throw new CmqError('CMQ_ERR_ACCOUNT_DISABLED', `account ${accountId} of tenant "${tenant}" is disabled`);
  const { credentials: ciphertext, ...account } = secret;
  if (!providers.includes(account.provider))
    throw new CmqError(
      'CMQ_ERR_ACCOUNT',
      `account ${accountId} is a ${account.provider} account; this action needs one of provider ${providers.join(' or ')}`,
    );
  const plain = cloud.keyring().decrypt(ciphertext);
  try {
    return { account, credentials: JSON.parse(plain.toString('utf8')) as Record<string, unknown> };
  } finally {
    plain.fill(0);
  }
}
