import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './private-servers';
import { waitFor } from './wait';

const FIXTURES = join(__dirname, '..', 'fixtures', 'ipmi-sim');

/** Sends one emulator command line to ipmi_sim's console port; resolves once it echoes the prompt back. */
function consoleCommand(port: number, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(`${line}\n`));
    socket.setTimeout(5_000, () => socket.destroy(new Error(`ipmi_sim console: no answer to "${line}"`)));
    socket.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      // The console echoes the command and prints a new prompt when it has run it.
      if (seen.includes(line) && seen.trimEnd().endsWith('>')) socket.end();
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/**
 * A real BMC simulator: `ipmi_sim` from Debian's openipmi, on a loopback UDP port of its own, with
 * the research recipe's MC and three threshold sensors (CPU Temp, Fan 1, PSU Temp: UNC 70, UCR 80,
 * UNR 90; PSU Temp starts at 45), user `admin` with `password`, chassis power kept in a file by
 * chassis.sh, and a console port for emulator commands (sensor_set_value).
 */
export class IpmiSim {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly consolePort: number,
    readonly password: string,
  ) {}

  static async start(password: string): Promise<IpmiSim> {
    const dir = mkdtempSync(join(tmpdir(), 'cmq-ipmisim-'));
    const sim = new IpmiSim(dir, await freePort(), await freePort(), password);
    copyFileSync(join(FIXTURES, 'chassis.sh'), join(dir, 'chassis.sh'));
    copyFileSync(join(FIXTURES, 'cmqsim.emu'), join(dir, 'cmqsim.emu'));
    const lan = readFileSync(join(FIXTURES, 'lan.conf'), 'utf8')
      .replaceAll('@DIR@', dir)
      .replaceAll('@PORT@', String(sim.port))
      .replaceAll('@CONSOLE_PORT@', String(sim.consolePort))
      .replaceAll('@PASSWORD@', password);
    writeFileSync(join(dir, 'lan.conf'), lan);
    // SDRs compiled into the state dir (note the ipmi_sim/<name>/ level, lanserv/README.ipmi_sim).
    mkdirSync(join(dir, 'state', 'ipmi_sim', 'cmqsim'), { recursive: true });
    execFileSync('sdrcomp', [
      '-o',
      join(dir, 'state', 'ipmi_sim', 'cmqsim', 'sdr.20.main'),
      join(FIXTURES, 'sensors.sdrs'),
    ]);
    sim.child = spawn(
      'ipmi_sim',
      ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'cmqsim.emu'), '-s', join(dir, 'state'), '-n'],
      {
        env: { PATH: process.env.PATH, IPMISIM_DIR: dir },
        stdio: 'ignore',
      },
    );
    // Ready when a lanplus session works. (Not by connecting to the console and dropping the
    // connection at once: ipmi_sim stops answering on its LAN port after that.)
    await waitFor(() => sim.answers(), 15_000, `ipmi_sim answering on UDP port ${sim.port}`);
    return sim;
  }

  /** Whether a short `ipmitool power status` gets an answer. */
  private answers(): Promise<boolean> {
    const args = ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '1', '-H', '127.0.0.1', '-p', String(this.port)];
    return new Promise((resolve) =>
      execFile(
        'ipmitool',
        [...args, '-U', 'admin', '-E', 'power', 'status'],
        { env: { PATH: process.env.PATH, IPMI_PASSWORD: this.password } },
        (err) => resolve(err === null),
      ),
    );
  }

  /** The chassis power as chassis.sh keeps it (`1` on, `0` off). */
  power(): string {
    try {
      return readFileSync(join(this.dir, 'power.state'), 'utf8').trim();
    } catch {
      return '0';
    }
  }

  /** Sets sensor `num`'s raw reading (`sensor_set_value 0x20 0 <num> <value> 1`: events generated). */
  async setSensor(num: number, value: number): Promise<void> {
    await consoleCommand(this.consolePort, `sensor_set_value 0x20 0 ${num} ${value} 1`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
