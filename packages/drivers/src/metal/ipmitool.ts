import { type ExecFileException, execFile } from 'node:child_process';
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

/** What ipmitool -v prints when the BMC refused the user (`unauthorized name`) or the password (`RAKP 2 HMAC is invalid`). */
const REFUSED_RE = /RAKP 2 HMAC is invalid|unauthorized name|invalid authentication|Invalid user name/i;
/** No session for another reason: no answer (Get Auth Capabilities error), a BMC too busy. */
const NO_SESSION_RE = /Unable to establish IPMI v2|RMCP\+ session/i;
const DEFAULT_TIMEOUT_MS = 30_000;
/** stderr lines that say nothing about a failure (-v's registry loading, ipmi_sim's missing cipher list). */
const NOISE_RE = /^Loading IANA PEN Registry|Unable to Get Channel Cipher Suites/;

/** `ipmi://host:port` (or `ipmi://[v6]:port`) → host and port; 623 when no port is given. */
export function parseBmcEndpoint(endpoint: string): { host: string; port: number } {
  const url = new URL(endpoint.replace(/^ipmi:/, 'http:'));
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 623 : Number(url.port) };
}

interface Exited {
  err: ExecFileException | null;
  stdout: string;
  stderr: string;
}

/** One ipmitool run against the BMC; never rejects (the caller reads `err`). */
function exec(target: BmcTarget, args: readonly string[], opts: IpmitoolOptions): Promise<Exited> {
  const argv = ['-I', 'lanplus', '-C', String(target.cipherSuite ?? 3), '-N', '2', '-R', '2'];
  argv.push('-H', target.host, '-p', String(target.port), '-U', target.user, '-E', ...args);
  return new Promise((resolve) => {
    execFile(
      opts.binary ?? 'ipmitool',
      argv,
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', IPMI_PASSWORD: target.password },
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: 4 * 1024 * 1024,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    );
  });
}

/**
 * Whether the BMC refuses this user or password, asked again with `-v` (which puts the reason on
 * stderr: `RAKP 2 HMAC is invalid`, `unauthorized name`). Not in every run: `-v` also turns
 * `sensor` statuses into words ("Upper Critical").
 */
async function refused(target: BmcTarget, opts: IpmitoolOptions): Promise<boolean> {
  const { stderr } = await exec(target, ['-v', 'power', 'status'], opts);
  return REFUSED_RE.test(stderr);
}

/**
 * Runs `ipmitool -I lanplus ... <args>` against a BMC. The password goes in IPMI_PASSWORD with
 * `-E`: never on the command line (`ps` shows every argument to every user), and only ipmitool's
 * own environment holds it. Short retries (-N 2 -R 2) so that a BMC that does not answer fails in
 * seconds, not in ipmitool's default 20.
 * @throws CmqError CMQ_ERR_IPMI_SESSION (permanent) when the BMC refuses the user or password;
 *   CMQ_ERR_IPMI_FAILED (transient) when it does not answer, and for any other failure.
 */
export async function runIpmitool(
  target: BmcTarget,
  args: readonly string[],
  opts: IpmitoolOptions = {},
): Promise<IpmitoolOutput> {
  const { err, stdout, stderr } = await exec(target, args, opts);
  // ipmi_sim and some BMCs make ipmitool print "Unable to Get Channel Cipher Suites": noise when it exits 0.
  if (err === null) return { stdout, stderr };
  const where = `ipmitool ${args.join(' ')} on BMC ${target.host}:${target.port}`;
  if (err.code === 'ENOENT')
    throw new CmqError('CMQ_ERR_IPMI_FAILED', `${where}: ipmitool is not installed (apt-get install ipmitool)`);
  const said = stderr.split('\n').filter((l) => l.trim() !== '' && !NOISE_RE.test(l));
  const text = redactSecrets(said.slice(-3).join(' / '), [target.password]);
  if (NO_SESSION_RE.test(stderr) && !opts.signal?.aborted && (await refused(target, opts)))
    throw new CmqError(
      'CMQ_ERR_IPMI_SESSION',
      `${where}: ${text}: the BMC refused the account's user or password (RAKP 2 HMAC is invalid, or unauthorized name); fix the ipmi account (cmq accounts add), it is not retried`,
    );
  const why = NO_SESSION_RE.test(stderr)
    ? `${text}: no session: the BMC did not answer`
    : err.killed === true
      ? 'timed out and was killed'
      : text || err.message;
  throw new CmqError('CMQ_ERR_IPMI_FAILED', `${where}: ${why} (retried later)`, { transient: true });
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
