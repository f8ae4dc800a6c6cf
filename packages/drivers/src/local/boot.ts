import { allocateAddress, releaseAddress } from './addresses';
import { writeAtomic } from './files';
import type { Layout, ServerPaths } from './layout';
import { localError } from './local-errors';
import type { LocalSettings } from './options';
import { holders, isOurs, killAll, livePid, sshAnswers, stopProcess } from './processes';
import { type ServerRecord, writeRecord } from './server-record';
import { sshdConfig, startLogLoop, startSshd } from './sshd';

/** How many addresses a launch tries when sshd finds its address taken by someone else. */
const ADDRESS_TRIES = 4;

/** A server's process (its recorded pid, else its pid file's) when it is ours and alive, else undefined. */
async function running(
  operation: string,
  recorded: number | undefined,
  pidFile: string,
  marker: string,
): Promise<number | undefined> {
  if (isOurs(recorded, marker)) return recorded;
  return livePid(operation, pidFile, marker);
}

/** The server's sshd (from the record, else its pid file) when it is alive, else undefined. */
export async function runningSshd(
  operation: string,
  record: ServerRecord,
  paths: ServerPaths,
): Promise<number | undefined> {
  return running(operation, record.pids.sshd, paths.sshdPid, paths.config);
}

/** The server's log writer (from the record, else its pid file) when it is alive, else undefined. */
function runningLog(operation: string, record: ServerRecord, paths: ServerPaths): Promise<number | undefined> {
  return running(operation, record.pids.log, paths.logPid, paths.appLog);
}

/** Stops the server's sshd (with its connections) and its log writer. */
export async function halt(operation: string, record: ServerRecord, paths: ServerPaths): Promise<void> {
  const sshd = await runningSshd(operation, record, paths);
  const log = await runningLog(operation, record, paths);
  const stopped = await Promise.all([
    sshd === undefined ? true : stopProcess(sshd, paths.config),
    log === undefined ? true : stopProcess(log, paths.appLog),
  ]);
  // Sessions left over from a listener that died (crash, kill -9) end with the server too.
  killAll(holders(paths.sshdLog));
  if (stopped.includes(false))
    throw localError(
      'transient',
      operation,
      `a process of ${paths.dir} survived SIGKILL (sshd pid ${sshd ?? '-'}, log writer pid ${log ?? '-'})`,
    );
}

export interface BootOptions {
  operation: string;
  settings: LocalSettings;
  layout: Layout;
  paths: ServerPaths;
  /** Launch: a taken address is replaced by another; reboot: the server keeps its address. */
  mayMove: boolean;
  signal?: AbortSignal;
}

/**
 * Brings a server up, whatever state an earlier (possibly interrupted) call left it in: its sshd
 * answers on its address, its log writer runs, the record says `running` with both pids. Every
 * step is skipped when already done, so a redelivered launch completes a half-done one. The log
 * writer starts only once sshd answers, and a boot that fails (sshd never answered, the call was
 * aborted, no address left...) stops whatever of the server runs before it rethrows: nothing keeps
 * running for a server the caller was told did not come up.
 */
export async function boot(record: ServerRecord, o: BootOptions): Promise<ServerRecord> {
  const { operation, settings, paths } = o;
  const pids: ServerRecord['pids'] = {};
  try {
    pids.sshd = await ensureSshd(record, o);
    pids.log = await runningLog(operation, record, paths);
    pids.log ??= await startLogLoop(operation, settings, paths, record.id);
    record.pids = { ...pids };
    record.state = 'running';
    await writeRecord(operation, paths, record);
    return record;
  } catch (err) {
    // halt finds what the pid files name as well (an sshd this call started before it failed).
    await halt(operation, { ...record, pids }, paths).catch(() => undefined);
    throw err;
  }
}

/** The server's sshd, answering on its address: the running one, or one started now. */
async function ensureSshd(record: ServerRecord, o: BootOptions): Promise<number> {
  const { operation, settings, layout, paths } = o;
  const owner = `${settings.account}/${record.id}`;
  const running = await runningSshd(operation, record, paths);
  if (running !== undefined) {
    if (record.address !== undefined && (await sshAnswers(record.address, settings.sshPort, settings.startTimeoutMs)))
      return running;
    // Alive but not answering (a stale or wedged sshd): start afresh.
    await stopProcess(running, paths.config);
  }
  const skip = new Set<string>();
  for (let attempt = 1; ; attempt++) {
    if (record.address === undefined) {
      record.address = await allocateAddress(operation, layout, owner, settings.sshPort, skip);
      await writeRecord(operation, paths, record);
    }
    await writeAtomic(operation, paths.authorizedKeys, `${settings.authorizedKey}\n`);
    await writeAtomic(operation, paths.config, sshdConfig(settings, paths, record.address));
    const started = await startSshd(operation, settings, paths, record.address, o.signal);
    if (started.ok) return started.pid;
    if (!started.addressInUse || !o.mayMove || attempt >= ADDRESS_TRIES) {
      throw localError(
        'transient',
        operation,
        `${record.id} on ${record.address}:${settings.sshPort}: ${started.reason}`,
      );
    }
    // Someone outside this state dir listens there (another state dir, another program).
    skip.add(record.address);
    await releaseAddress(operation, layout, record.address, owner);
    delete record.address;
  }
}
