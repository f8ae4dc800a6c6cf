import { appendFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, logLines, runCmq, spawnBin } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/**
 * `cmq logs` and `cmq status` against a running pipeline: two tenants, successes logged at debug
 * so that every action leaves lines in its tenant's file, one failure (a warn line) per tenant.
 */
const REDIS_DB = 9;
let pipe: Pipeline;
let publisher: Spawned;
let subscriber: Spawned;
const tenantLog = (t: string): string => join(pipe.logDir, 'tenants', `${t}.log`);
const LINE_RE =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) [a-z]+\/[a-z0-9-]+( \[\d+\])? \S.*$/;

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Submits noop actions for `tenant` (the last one failing when `fail`), waits until each is final and logged. */
async function run(tenant: string, n: number, fail = false): Promise<string[]> {
  const ids = await pipe.submit(
    Array.from({ length: n }, (_, i) => ({
      type: 'noop',
      tenant,
      args: fail && i === n - 1 ? { fail: 'outcome' } : {},
    })),
  );
  await pipe.allFinal(20_000, ids);
  const logged = (): Array<Record<string, unknown>> => [
    ...logLines(`${tenantLog(tenant)}.1`),
    ...logLines(tenantLog(tenant)),
  ];
  await waitFor(
    () =>
      ids.every((id) =>
        logged().some((l) => String(l.action) === id && /^action (succeeded|failed)$/.test(String(l.msg))),
      ),
    10_000,
    `log lines of ${tenant}'s actions`,
  );
  return ids;
}

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: {
      'subscriber.properties': { name: 'obs', 'log.level': 'debug' },
      'persistence.properties': { 'redis.db': REDIS_DB },
    },
  });
  await pipe.addTenants('acme', 'beta');
  publisher = pipe.start('publisher');
  subscriber = pipe.start('subscriber');
  await Promise.all([pipe.running('publisher', 'main'), pipe.running('subscriber', 'obs')]);
  await Promise.all([run('acme', 3, true), run('beta', 2, true)]);
});

afterAll(async () => {
  await pipe.destroy();
});

describe('cmq logs', () => {
  it('each tenant file holds only its own lines; printed human-readable, filtered by level and time', async () => {
    for (const t of ['acme', 'beta']) expect(logLines(tenantLog(t)).every((l) => l.tenant === t)).toBe(true);
    const res = await runCmq(['logs', 'acme', '--config-dir', pipe.dir]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const out = lines(res.stdout);
    expect(out).toHaveLength(logLines(tenantLog('acme')).length);
    for (const l of out) expect(l).toMatch(LINE_RE);
    expect(
      out.filter((l) =>
        / DEBUG subscriber\/obs \[\d+\] action succeeded component=subscriber type=noop attempt=1 ms=\d+$/.test(l),
      ),
    ).toHaveLength(2);
    expect(res.stdout).not.toContain('beta');
    const warn = await runCmq(['logs', 'acme', '--level', 'warn', '--config-dir', pipe.dir]);
    expect(lines(warn.stdout)).toEqual([
      expect.stringMatching(
        / WARN {2}subscriber\/obs \[\d+\] action failed component=subscriber type=noop attempt=1 ms=\d+ error="noop reporting failure on purpose"$/,
      ) as unknown,
    ]);
    const future = await runCmq(['logs', 'acme', '--since', '2999-01-01T00:00:00Z', '--config-dir', pipe.dir]);
    expect(future).toMatchObject({ code: 0, stdout: '' });
  });

  it('refuses a tenant id that could name another path (exit 64), and says when a tenant has no log (exit 1)', async () => {
    const [bad, none] = await Promise.all([
      runCmq(['logs', '../subscriber-obs', '--config-dir', pipe.dir]),
      runCmq(['logs', 'gamma', '--config-dir', pipe.dir]),
    ]);
    expect(bad).toMatchObject({ code: 64, stdout: '' });
    expect(bad.stderr).toBe(
      'cmq: "../subscriber-obs" is not a tenant id (1-63 of a-z, 0-9, _ and -, starting with a letter or digit)\n',
    );
    expect(none).toMatchObject({
      code: 1,
      stderr: `cmq: no log for tenant gamma: ${tenantLog('gamma')} does not exist\n`,
    });
  });

  it('-f follows the file across a logrotate (rename + SIGHUP): every line of both files printed exactly once', async () => {
    const follower = spawnBin('cmq', ['logs', 'acme', '-f', '--config-dir', pipe.dir]);
    pipe.processes.push(follower);
    const before = logLines(tenantLog('acme')).length;
    await waitFor(() => lines(follower.stdout).length === before, 10_000, 'the existing lines');
    const early = await run('acme', 2);
    renameSync(tenantLog('acme'), `${tenantLog('acme')}.1`);
    const during = await run('acme', 2); // still written to the renamed file: nobody reopened yet
    publisher.kill('SIGHUP');
    subscriber.kill('SIGHUP');
    const after = await run('acme', 3);
    const total = (): number => logLines(`${tenantLog('acme')}.1`).length + logLines(tenantLog('acme')).length;
    await waitFor(() => lines(follower.stdout).length >= total(), 15_000, 'the follower to print every line');
    expect(logLines(tenantLog('acme')).some((l) => l.action === after[0])).toBe(true);
    const out = lines(follower.stdout);
    expect(out).toHaveLength(total());
    for (const id of [...early, ...during, ...after])
      expect(out.filter((l) => l.includes(` [${id}] action succeeded `))).toHaveLength(1);
    follower.kill('SIGTERM');
    expect(await follower.exitCode()).toBe(0);
    expect(follower.stderr).toBe('');
  });
  it('never prints a field named like a secret, at any depth, even if a line carries one', async () => {
    const line = {
      level: 'info',
      time: '2026-01-02T03:04:05.678Z',
      service: 'subscriber',
      name: 'x',
      tenant: 'sec',
      action: '7',
      msg: 'connected',
      password: 'hunter2',
      target: { user: 'ops', privateKey: 'KEYDATA', token: 'tok123' },
      credentials: { secretAccessKey: 'AKIA-SECRET' },
      note: 'two words',
    };
    appendFileSync(tenantLog('sec'), `${JSON.stringify(line)}\nnot json at all\n`);
    const res = await runCmq(['logs', 'sec', '--config-dir', pipe.dir]);
    expect(res.stdout).toBe(
      '2026-01-02T03:04:05.678Z INFO  subscriber/x [7] connected password=[redacted] target={"user":"ops","privateKey":"[redacted]","token":"[redacted]"} credentials=[redacted] note="two words"\nnot json at all\n',
    );
  });
});

describe('cmq status', () => {
  it("shows the live processes, each family's load and each tenant's actions by state; --json too", async () => {
    // A heartbeat is up to one interval old: wait for one written after the last outcome.
    await waitFor(
      async () => {
        const beats = JSON.parse((await runCmq(['status', '--json', '--config-dir', pipe.dir])).stdout) as {
          processes: Array<{ service: string; in_flight: number | null; failed: number | null }>;
        };
        return beats.processes.some((p) => p.service === 'subscriber' && p.in_flight === 0 && p.failed === 2);
      },
      15_000,
      'a subscriber heartbeat with nothing in flight',
    );
    const res = await runCmq(['status', '--config-dir', pipe.dir]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toMatch(
      /^PROCESSES \(2 live\)\nSERVICE\s+NAME\s+HOST\s+PID\s+VERSION\s+STATE\s+UPTIME\s+QUEUES\s+IN-FLIGHT\s+PROCESSED\s+FAILED\s+HEARTBEAT\s+LOOP-LAG\n/,
    );
    expect(res.stdout).toMatch(
      new RegExp(
        `^subscriber\\s+obs\\s+\\S+\\s+${subscriber.pid}\\s+\\S+\\s+running\\s+\\S+\\s+provision,monitor,guest,control\\s+0\\s+\\d+\\s+2\\s`,
        'm',
      ),
    );
    expect(res.stdout).toMatch(
      /^FAMILIES \(computed from PostgreSQL: no pinger summary\)\nFAMILY\s+BACKLOG\s+QUEUED\s+RUNNING\s+OLDEST\s+BROKER-DEPTH\n(?:(?:provision|monitor|guest|control)\s+0\s+0\s+0\s+-\s+-\n){4}/m,
    );
    expect(res.stdout).toMatch(/^TENANT\s+SUCCEEDED\s+FAILED\s+TOTAL\nacme\s+9\s+1\s+10\nbeta\s+1\s+1\s+2\n$/m);
    const json = JSON.parse((await runCmq(['status', '--json', '--config-dir', pipe.dir])).stdout) as {
      processes: Array<{ service: string; pid: number; processed: number; state: string }>;
      families_from: string;
      tenants: Record<string, Record<string, number>>;
    };
    expect(json.processes.map((p) => [p.service, p.pid, p.state]).sort()).toEqual([
      ['publisher', publisher.pid, 'running'],
      ['subscriber', subscriber.pid, 'running'],
    ]);
    expect(json.families_from).toBe('postgres');
    expect(json.tenants).toEqual({ acme: { succeeded: 9, failed: 1 }, beta: { succeeded: 1, failed: 1 } });
  });
});
