import {
  type AccountInfo,
  PROVIDERS,
  type Provider,
  RESOURCE_KINDS,
  addAccount,
  getAccountSecret,
  listAccounts,
  maskCredentials,
  removeAccount,
} from '@cmq/actions';
import { CmqError, errorText, resourcesCacheKey } from '@cmq/common';
import { type Command, Option } from 'commander';
import { type Env } from '../config-set';
import { CommandFailed, Exit, failure } from '../command-error';
import { withDatabase } from '../cli-db';
import { loadRedisConfig, withRedis } from '../redis-state';
import { jsonLines, safeJson, table, time } from '../format';
import { positiveInt, withConfigDir } from '../options';
import { loadDefaultProvider } from '../provisioning';
import { auditAccount, generatedLocalCredentials, readCredentials } from './account-input';
import { registerRotate } from './account-rotate';
import { loadKeyring } from './guests';

interface AddOpts {
  configDir?: string;
  tenant: string;
  /** Filled in from provisioning.cfg `cloud.default_provider` when not given. */
  provider: Provider;
  region: string;
  endpoint?: string;
  credentialsFile?: string;
  rate?: string;
  burst?: number;
}

function credentials(opts: AddOpts): string {
  if (opts.credentialsFile !== undefined) return readCredentials(opts.credentialsFile, opts.provider);
  if (opts.provider === 'local') return generatedLocalCredentials(opts.tenant);
  throw new CommandFailed(`--credentials-file is required for provider ${opts.provider}`, Exit.REFUSED);
}

function rate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new CommandFailed(`--rate ${value}: a positive number of calls per second`, Exit.REFUSED);
  return n;
}

async function add(opts: AddOpts, env: Env): Promise<string> {
  const plain = credentials(opts);
  const encryptedCredentials = loadKeyring(opts.configDir, env).encrypt(plain);
  const account = {
    tenant: opts.tenant,
    provider: opts.provider,
    region: opts.region,
    endpoint: opts.endpoint,
    encryptedCredentials,
    rate: rate(opts.rate),
    burst: opts.burst,
  };
  return withDatabase(opts.configDir, env, async ({ sql }) => {
    let id: string;
    try {
      id = await addAccount(sql, account);
    } catch (err) {
      if (err instanceof CmqError && err.code === 'CMQ_ERR_ACCOUNT') throw new CommandFailed(err.message, Exit.REFUSED);
      throw err;
    }
    await auditAccount(sql, env, 'account.add', id, opts.tenant, {
      provider: opts.provider,
      region: opts.region,
      key_id: encryptedCredentials.split(':')[1] ?? '?',
    });
    return id;
  });
}

function limits(a: AccountInfo): string {
  return `${a.rate ?? 'default'}/s burst ${a.burst ?? 'default'}`;
}

/** `cmq accounts add|list|show|rotate|remove`: tenants' cloud accounts (credentials encrypted, never printed). */
export function registerAccountCommands(program: Command, env: Env): void {
  const accounts = program
    .command('accounts')
    .description('cloud accounts of tenants; credentials are stored encrypted and never printed');

  withConfigDir(
    accounts
      .command('add')
      .description('add an account; its credentials are validated and encrypted with km.active_key_id'),
  )
    .requiredOption('--tenant <tenant>', 'tenant id')
    .addOption(
      new Option('--provider <provider>', 'cloud provider (default: provisioning.cfg cloud.default_provider)').choices([
        ...PROVIDERS,
      ]),
    )
    .requiredOption('--region <region>', 'provider region (local, cobbler, ipmi: any name, e.g. the rack)')
    .option(
      '--endpoint <url>',
      'API endpoint, for EC2-compatible clouds; cobbler: http(s)://HOST/cobbler_api; ipmi: ipmi://BMC[:PORT] (both required)',
    )
    .option(
      '--credentials-file <file>',
      'JSON: {"access_key_id", "secret_access_key"} for ec2 (required); {"ssh_private_key", "ssh_public_key"} for local (default: a new ed25519 pair); {"user", "password"} for cobbler and ipmi (required)',
    )
    .option('--rate <n>', 'API calls per second for this account (default: provisioning.cfg)')
    .option('--burst <n>', 'bucket size for this account (default: provisioning.cfg)', positiveInt(1_000_000))
    .action(async (given: Omit<AddOpts, 'provider'> & { provider?: Provider }) => {
      const opts: AddOpts = { ...given, provider: given.provider ?? loadDefaultProvider(given.configDir, env) };
      const id = await add(opts, env);
      process.stdout.write(`added account ${id} (${opts.provider} ${opts.region}) of tenant ${opts.tenant}\n`);
    });

  registerRotate(accounts, env);

  withConfigDir(accounts.command('list').description('list accounts (never their credentials)'))
    .option('--tenant <tenant>', 'only this tenant')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { configDir?: string; tenant?: string; json?: boolean }) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) => listAccounts(sql, opts.tenant));
      if (opts.json === true) process.stdout.write(jsonLines(rows));
      else
        process.stdout.write(
          table(
            ['ID', 'TENANT', 'PROVIDER', 'REGION', 'ENDPOINT', 'RATE', 'CREATED'],
            rows.map((r) => [
              r.id,
              r.tenant_id,
              r.provider,
              r.region,
              r.endpoint ?? '-',
              limits(r),
              time(r.created_at),
            ]),
          ),
        );
    });

  withConfigDir(
    accounts
      .command('show')
      .argument('<id>', 'account id')
      .description("show an account; credentials masked (the access key id's last 4 characters at most)"),
  )
    .option('--json', 'as one JSON object')
    .action(async (id: string, opts: { configDir?: string; json?: boolean }) => {
      const keyring = loadKeyring(opts.configDir, env);
      const account = await withDatabase(opts.configDir, env, ({ sql }) => getAccountSecret(sql, id));
      if (account === undefined) throw failure(`no account ${id} (cmq accounts list)`);
      const { credentials, ...info } = account;
      const keyId = credentials.split(':')[1] ?? '?';
      const masked = maskCredentials(keyring.decrypt(credentials).toString('utf8'));
      const shown = { ...info, credentials_masked: masked, key_id: keyId };
      if (opts.json === true) process.stdout.write(`${safeJson(shown)}\n`);
      else {
        const fields: Array<[string, string]> = [
          ['id', info.id],
          ['tenant', info.tenant_id],
          ['provider', info.provider],
          ['region', info.region],
          ['endpoint', info.endpoint ?? '-'],
          ['rate', limits(info)],
          [
            'credentials',
            Object.entries(masked)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ') || '(none)',
          ],
          ['key id', keyId],
          ['created', time(info.created_at)],
        ];
        process.stdout.write(fields.map(([k, v]) => `${k.padEnd(12)} ${v}\n`).join(''));
      }
    });

  withConfigDir(
    accounts.command('remove').argument('<id>', 'account id').description('remove an account and its credentials'),
  ).action(async (id: string, opts: { configDir?: string }) => {
    const tenant = await withDatabase(opts.configDir, env, async ({ sql }) => {
      let removed: string | undefined;
      try {
        removed = await removeAccount(sql, id);
      } catch (err) {
        if (err instanceof CmqError && err.code === 'CMQ_ERR_ACCOUNT') throw failure(err.message);
        throw err;
      }
      if (removed !== undefined) await auditAccount(sql, env, 'account.remove', id, removed);
      return removed;
    });
    if (tenant === undefined) throw failure(`no account ${id} (cmq accounts list)`);
    process.stdout.write(`removed account ${id}\n`);
    // PostgreSQL is the record and the account is gone from it; its Redis cache goes too, or
    // readers of the cache would go on seeing a removed account's resources.
    try {
      await withRedis(loadRedisConfig(opts.configDir, env), 3_000, (redis) =>
        redis.resources.forget(tenant, id, RESOURCE_KINDS),
      );
    } catch (err) {
      // Removing the account again would stop at "no account": say how to finish by hand.
      const pattern = resourcesCacheKey(tenant, id, 'server').replace(/:server$/, ':*');
      process.stderr.write(
        `cmq: warning: account ${id} is removed, but its cached resources are still in Redis: ${errorText(err)}\n` +
          `cmq: once Redis answers: redis-cli [-h HOST -p PORT -n DB] --scan --pattern '${pattern}' | xargs -r redis-cli [-h HOST -p PORT -n DB] del\n`,
      );
    }
  });
}
