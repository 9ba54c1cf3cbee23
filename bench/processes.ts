// Process helpers for the benchmarks: timed runs under GNU time, daemons, /proc figures, a real runsvdir.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from './support.js';

const GNU_TIME = existsSync('/usr/bin/time') ? ['/usr/bin/time', '-f', 'PEAK_RSS_KB=%M'] : [];

export interface TimedRun {
  seconds: number;
  /** Peak RSS from GNU time's %M (NaN without /usr/bin/time). */
  peakRssMb: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv to its end (under GNU time for the peak RSS) and measures its wall time; never throws on exit codes. */
export function timedRun(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<TimedRun> {
  const full = [...GNU_TIME, ...argv];
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-20000);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20000);
    });
    child.on('error', fail);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const peakRssMb = Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024;
      done({ seconds, peakRssMb, code, stdout, stderr });
    });
  });
}

/** Like timedRun, but throws with the output when the exit code is not `expect`. */
export async function mustRun(argv: string[], expect = 0): Promise<TimedRun> {
  const r = await timedRun(argv);
  if (r.code !== expect) throw new Error(`${argv.join(' ')} exited ${r.code} (expected ${expect}):\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  return r;
}

/** Starts a long-running process with stdout and stderr appended to `logFile`. */
export function startDaemon(argv: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const out = openSync(logFile, 'a');
  return spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', out, out], env });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopDaemon(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ProcFigures {
  rssMb: number;
  /** utime + stime in seconds. */
  cpuS: number;
}

/** VmRSS from /proc/<pid>/status and utime+stime from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s). */
export async function procFigures(pid: number): Promise<ProcFigures> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 on
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMb: rssKb / 1024, cpuS: ticks / 100 };
}

export interface Runsvdir {
  serviceDir: string;
  stageDir: string;
  stop(): Promise<void>;
}

/** A real `runsvdir` on `<root>/service`; the apps' service folders live in `<root>/stage`. */
export async function startRunsvdir(root: string): Promise<Runsvdir> {
  const serviceDir = join(root, 'service');
  const stageDir = join(root, 'stage');
  await mkdir(serviceDir, { recursive: true });
  await mkdir(stageDir, { recursive: true });
  const child = spawn('runsvdir', [serviceDir], { stdio: 'ignore' });
  await new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', fail);
  });
  const stop = async () => {
    for (const app of (await readdir(stageDir).catch(() => [])).filter((n) => !n.startsWith('.'))) {
      await timedRun(['sv', '-w', '5', 'force-stop', join(stageDir, app)]);
      await timedRun(['sv', 'exit', join(stageDir, app)]);
    }
    await sleep(300);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGHUP');
      await exited;
    }
  };
  return { serviceDir, stageDir, stop };
}
