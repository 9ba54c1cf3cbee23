// Real runit for the tests: a runsvdir on a temp folder (or one runsv on one service), the state of a service read
// from its supervise/ folder, and a teardown that leaves no runsv and no service process behind, whatever state the
// test left them in. Every waiting loop here polls observed state against a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, readlink, realpath, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { runCommand } from '../../shared/process.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs every step, even after one failed, and then throws the first failure: a teardown that stops everything. */
export async function inTurn(steps: Array<() => Promise<unknown>>): Promise<void> {
  let failure: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

/** Sends `signal` to a child of this process and resolves once it exited (SIGKILL after `hardMs`). */
export async function endChild(child: ChildProcess, signal: NodeJS.Signals, hardMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const hard = setTimeout(() => child.kill('SIGKILL'), hardMs);
  await exited;
  clearTimeout(hard);
}

function spawned(child: ChildProcess): Promise<void> {
  return new Promise((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', fail);
  });
}

const within = (root: string, path: string) => path === root || path.startsWith(root + sep);

/** Every live process named `name` (every one when not given) and the folder it works in (runsv: its service folder). */
async function processes(name?: string): Promise<Array<{ pid: number; name: string; cwd: string }>> {
  const found: Array<{ pid: number; name: string; cwd: string }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
    if (name !== undefined && comm !== name) continue;
    // A zombie, or a process gone meanwhile, has no readable cwd: it holds nothing any more.
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => undefined);
    if (cwd !== undefined) found.push({ pid: Number(entry), name: comm, cwd });
  }
  return found;
}

const canonical = (path: string) => realpath(path).catch(() => path);

function killHard(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** True while a runsv supervises the service in `dir`: its supervise/ok FIFO has a reader. */
export async function supervised(dir: string): Promise<boolean> {
  const fifo = await open(join(dir, 'supervise', 'ok'), constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
  await fifo?.close();
  return fifo !== undefined;
}

export type ServiceState = 'run' | 'down' | 'finish';

/** What the service in `dir` is doing as its runsv last wrote it in supervise/stat; undefined while no runsv supervises it. */
export async function serviceState(dir: string): Promise<ServiceState | undefined> {
  if (!(await supervised(dir))) return undefined;
  const stat = await readFile(join(dir, 'supervise', 'stat'), 'utf8').catch(() => '');
  const word = /^(run|down|finish)\b/.exec(stat)?.[1];
  return word as ServiceState | undefined;
}

/** The pid of the service's process while it runs (supervise/pid), else undefined. */
export async function servicePid(dir: string): Promise<number | undefined> {
  if ((await serviceState(dir)) !== 'run') return undefined;
  const pid = Number((await readFile(join(dir, 'supervise', 'pid'), 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Resolves once the service in `dir` is `want` (run or down), or throws after `ms` saying what it was. */
export async function waitForService(dir: string, want: 'run' | 'down', ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let state = await serviceState(dir); state !== want; state = await serviceState(dir)) {
    if (Date.now() > deadline) throw new Error(`${dir} is ${state ?? 'not supervised'} after ${ms} ms, not ${want}`);
    await pause(50);
  }
}

/**
 * Takes every service in `dirs` down (TERM, KILL after `waitSeconds`) and tells its runsv to exit, then waits until
 * no runsv works in any of them, asking again while one is left. A runsv still there after 30 s is killed, and the
 * teardown fails naming it.
 */
export async function stopServices(dirs: string[], waitSeconds = 5): Promise<void> {
  const wanted = new Set(await Promise.all(dirs.map(canonical)));
  const ask = async (dir: string, wait: number) => {
    await runCommand(['sv', '-w', String(wait), 'force-stop', dir]);
    const log = join(dir, 'log');
    const hasLog = (await stat(join(log, 'supervise')).catch(() => undefined)) !== undefined;
    await runCommand(['sv', 'exit', dir, ...(hasLog ? [log] : [])]);
  };
  for (const dir of wanted) await ask(dir, waitSeconds);
  const deadline = Date.now() + 30_000;
  let asked = Date.now();
  for (;;) {
    const left = (await processes('runsv')).filter((p) => wanted.has(p.cwd));
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      for (const p of left) killHard(p.pid);
      throw new Error(`runsv still running in ${left.map((p) => p.cwd).join(', ')} 30 s after sv exit; killed`);
    }
    // A runsv started just as the first request went out (runsvdir picking a link up) did not get it.
    if (Date.now() - asked > 1000) {
      for (const p of left) await ask(p.cwd, 1);
      asked = Date.now();
    }
    await pause(50);
  }
}

/**
 * Stops every runsv working under `root` and the services they supervise, then kills whatever process still works
 * there (a service whose runsv a test killed). Throws, after all that, when a runsv would not exit when told.
 */
export async function stopEverythingUnder(root: string): Promise<void> {
  const real = await canonical(root);
  await inTurn([
    async () => stopServices((await processes('runsv')).filter((p) => within(real, p.cwd)).map((p) => p.cwd)),
    async () => {
      for (const p of (await processes()).filter((p) => within(real, p.cwd))) killHard(p.pid);
    },
  ]);
}

/** A real runsvdir -P on a folder of service links. */
export interface Runsvdir {
  /** The folder it scans. */
  readonly dir: string;
  readonly child: ChildProcess;
  /** Unlinks every service from its folder, stops those services and their runsv, then runsvdir itself. */
  stop(): Promise<void>;
}

export interface RunsvdirOptions {
  /** Environment of runsvdir, and so of every runsv and service it starts. */
  env?: NodeJS.ProcessEnv;
  /** Words before `runsvdir -P <dir>`: a wrapper that execs it, e.g. into a mount namespace of its own. */
  wrap?: string[];
  /** A file its output (and its wrapper's) is appended to; dropped when not given. */
  logFile?: string;
}

export async function startRunsvdir(dir: string, o: RunsvdirOptions = {}): Promise<Runsvdir> {
  const argv = [...(o.wrap ?? []), 'runsvdir', '-P', dir];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: o.logFile === undefined ? 'ignore' : ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  if (o.logFile !== undefined) {
    const log = createWriteStream(o.logFile, { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
  }
  await spawned(child);
  return {
    dir,
    child,
    stop: async () => {
      const services: string[] = [];
      for (const name of await readdir(dir).catch(() => [])) {
        const target = await realpath(join(dir, name)).catch(() => undefined);
        await unlink(join(dir, name)).catch(() => {});
        if (target !== undefined) services.push(target);
      }
      // runsvdir sends TERM to every runsv it still watches and exits; a runsv exits on TERM once its service is down.
      await inTurn([() => stopServices(services), () => endChild(child, 'SIGHUP')]);
    },
  };
}

/** One real runsv on one service folder, without a runsvdir. */
export interface Runsv {
  readonly dir: string;
  readonly child: ChildProcess;
  /** Takes the service down and runsv out; resolves once runsv has exited. */
  stop(): Promise<void>;
}

export async function startRunsv(dir: string): Promise<Runsv> {
  const child = spawn('runsv', [dir], { stdio: 'ignore' });
  await spawned(child);
  return {
    dir,
    child,
    stop: () => inTurn([() => stopServices([dir]), () => endChild(child, 'SIGKILL')]),
  };
}

/** A runsvdir on `<root>/service` and the stage folder `<root>/stage` where pp-setlive writes service folders. */
export interface Runit {
  root: string;
  serviceDir: string;
  stageDir: string;
  runsvdir: Runsvdir;
  /** Stops runsvdir and every runsv and service under root, then removes root; fails if a runsv would not exit. */
  stop(): Promise<void>;
}

/** Starts a runsvdir on a fresh temp folder `pp-<name>-*`. */
export async function startRunit(name = 'runit'): Promise<Runit> {
  const root = await mkdtemp(join(tmpdir(), `pp-${name}-`));
  const serviceDir = join(root, 'service');
  const stageDir = join(root, 'stage');
  await mkdir(serviceDir);
  await mkdir(stageDir);
  const runsvdir = await startRunsvdir(serviceDir);
  return {
    root,
    serviceDir,
    stageDir,
    runsvdir,
    stop: () =>
      inTurn([() => runsvdir.stop(), () => stopEverythingUnder(root), () => rm(root, { recursive: true, force: true, maxRetries: 5 })]),
  };
}

/** A fresh temp folder `pp-<name>-*` holding `svc/`, a service folder whose run script sleeps (no runsv yet). */
export async function sleepService(name: string): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), `pp-${name}-`));
  const dir = join(root, 'svc');
  await mkdir(dir);
  await writeFile(join(dir, 'run'), '#!/bin/sh\nexec sleep 600\n');
  await chmod(join(dir, 'run'), 0o755);
  return { root, dir };
}
