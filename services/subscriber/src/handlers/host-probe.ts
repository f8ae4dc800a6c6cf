import { PROBE_COMMANDS, parseProbe, recordProbeResult } from '@cmq/actions';
import type { Handler } from './handler';
import { runOnGuest, sshServices } from './ssh-run';

/**
 * `host.probe`: runs the probe's command on a guest (`qstat -Q`, `ipmitool sensor`, or the given
 * command), parses stdout (lines not understood become raw records with a warning), stores the
 * run in probe_results and the latest in Redis. A non-zero exit is stored too, and ends failed.
 */
export const hostProbe: Handler<'host.probe'> = async (ctx) => {
  const { args } = ctx;
  const command = args.probe === 'command' ? (args.command ?? '') : PROBE_COMMANDS[args.probe];
  const res = await runOnGuest(ctx, args.target, command, {
    timeoutMs: args.timeout === undefined ? undefined : args.timeout * 1000,
    logOutput: true,
  });
  const parsed = parseProbe(args.probe, res.stdout);
  if (res.stderr.trim() !== '') parsed.warnings.push(`stderr: ${res.stderr.trim().slice(0, 2000)}`);
  if (res.truncated) parsed.warnings.push('output over ssh.output_cap was truncated');
  const stored = await recordProbeResult(sshServices(ctx).sql, ctx.tenant, args.target, args.probe, res.code, parsed);
  await ctx.redis.probes.writeLatest(ctx.tenant, args.target, args.probe, stored);
  if (parsed.warnings.length > 0)
    ctx.logger.warn(
      { target: args.target, probe: args.probe, warnings: parsed.warnings.slice(0, 20) },
      'probe output had lines the parser did not understand',
    );
  const summary = { records: parsed.records.length, warnings: parsed.warnings.length, code: res.code };
  if (res.timedOut)
    return { status: 'failed', result: summary, error: `probe command "${command}" timed out and was killed` };
  if (res.code !== 0)
    return {
      status: 'failed',
      result: summary,
      error: `probe command "${command}" exited ${res.code ?? `on signal ${res.signal ?? '?'}`}`,
    };
  return { status: 'succeeded', result: summary };
};
