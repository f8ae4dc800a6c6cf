import { execFile } from 'node:child_process';
import { CmqError } from '@cmq/common';
import { redactSecrets } from '../errors';

/** A BMC reached over the network (ipmitool -I lanplus), and the credentials of one of its users. */
export interface BmcTarget {
  host: string;
  /** UDP port of the BMC's RMCP+ service (623 unless the account's endpoint names another). */
  port: number;
  user: string;
  password: string;
  /** lanplus cipher suite (-C); 3 (SHA1, HMAC-SHA1-96, AES-CBC-128) unless the account says. */
  cipherSuite?: number;
}

export interface IpmitoolOptions {
  signal?: AbortSignal;
  /** Kills ipmitool after this long (default 30 s). */
  timeoutMs?: number;
  /** The binary to run (default `ipmitool` from PATH). */
  binary?: string;
}

export interface IpmitoolOutput {
  stdout: string;
  stderr: string;
}

export type ChassisPowerOp = 'status' | 'on' | 'off' | 'cycle';

const SESSION_RE = /Unable to establish IPMI v2|RMCP\+ session|unauthorized name|invalid authentication/i;
const DEFAULT_TIMEOUT_MS = 30_000;

/** `ipmi://host:port` (or `ipmi://[v6]:port`) → host and port; 623 when no port is given. */
export function parseBmcEndpoint(endpoint: string): { host: string; port: number } {
  const url = new URL(endpoint.replace(/^ipmi:/, 'http:'));
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 623 : Number(url.port) };
}

/**
 * Runs `ipmitool -I lanplus ... <args>` against a BMC. The password goes in IPMI_PASSWORD with
 * `-E`: never on the command line (`ps` shows every argument to every user), and only ipmitool's
 * own environment holds it. Short retries (-N 2 -R 2) so that a BMC that does not answer fails in
 * seconds, not in ipmitool's default 20.
 * @throws CmqError CMQ_ERR_IPMI_SESSION (permanent) when no session opens (wrong user or
 *   password, or no BMC there); CMQ_ERR_IPMI_FAILED (transient) for any other failure.
 */
export function runIpmitool(
  target: BmcTarget,
  args: readonly string[],
  opts: IpmitoolOptions = {},
): Promise<IpmitoolOutput> {
  const argv = [
    '-I',
    'lanplus',
    '-C',
    String(target.cipherSuite ?? 3),
    '-N',
    '2',
    '-R',
    '2',
    '-H',
    target.host,
    '-p',
    String(target.port),
    '-U',
    target.user,
    '-E',
    ...args,
  ];
  const where = `ipmitool ${args.join(' ')} on BMC ${target.host}:${target.port}`;
  return new Promise((resolve, reject) => {
    execFile(
      opts.binary ?? 'ipmitool',
      argv,
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', IPMI_PASSWORD: target.password },
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: 4 * 1024 * 1024,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (err === null) {
          // ipmi_sim and some BMCs make ipmitool print "Unable to Get Channel Cipher Suites": noise when it exits 0.
          resolve({ stdout, stderr });
          return;
        }
        const text = redactSecrets(stderr.trim().split('\n').slice(-3).join(' / '), [target.password]);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT')
          reject(new CmqError('CMQ_ERR_IPMI_FAILED', `${where}: ipmitool is not installed (apt-get install ipmitool)`));
        else if (SESSION_RE.test(stderr))
          reject(
            new CmqError(
              'CMQ_ERR_IPMI_SESSION',
              `${where}: ${text}: the BMC refused the account's user or password, or no BMC answers there; fix the ipmi account (cmq accounts add), it is not retried`,
            ),
          );
        else
          reject(
            new CmqError(
              'CMQ_ERR_IPMI_FAILED',
              `${where}: ${err.killed ? 'timed out and was killed' : text || err.message}`,
              {
                transient: true,
              },
            ),
          );
      },
    );
  });
}

/** `power status|on|off|cycle`; the chassis power state ipmitool reports afterwards for `status`. */
export async function chassisPower(
  target: BmcTarget,
  op: ChassisPowerOp,
  opts: IpmitoolOptions = {},
): Promise<{ power?: 'on' | 'off'; output: string }> {
  const { stdout } = await runIpmitool(target, ['power', op], opts);
  const m = /Chassis Power is (on|off)/i.exec(stdout);
  const output = stdout.trim();
  return m?.[1] !== undefined ? { power: m[1].toLowerCase() as 'on' | 'off', output } : { output };
}

/** `-c sensor`: the CSV the one sensor parser reads (parseIpmiSensor in @cmq/actions). */
export async function readSensors(target: BmcTarget, opts: IpmitoolOptions = {}): Promise<IpmitoolOutput> {
  return runIpmitool(target, ['-c', 'sensor'], opts);
}
