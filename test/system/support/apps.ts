import { readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../support/free-port.js';
import type { Artifact } from '../../support/version-server.js';

/** One app of a system test: where it lives, its port. */
export interface TestApp {
  name: string;
  basedir: string;
  port: number;
}

export async function newApp(root: string, name: string): Promise<TestApp> {
  return { name, basedir: join(root, 'apps', name), port: await freePort() };
}

type VersionEntry = { artifact: Artifact; state: 'live' | 'prepared'; url?: string; sha256?: string };

/** The app's intent: the given versions, its port, version-server as the service, an HTTP health check. */
export function intentOf(app: TestApp, versions: VersionEntry[]): object {
  return {
    schema: 1,
    basedir: app.basedir,
    versions: versions.map((v) => ({
      version: v.artifact.version,
      url: v.url ?? v.artifact.url,
      sha256: v.sha256 ?? v.artifact.sha256,
      state: v.state,
    })),
    ports: [{ port: app.port, protocol: 'tcp' }],
    service: { command: [process.execPath, 'version-server.mjs'], env: { PORT: String(app.port) } },
    health: { http: `http://127.0.0.1:${app.port}/health`, timeoutMs: 15_000 },
  };
}

/** The folder `<basedir>/<name>` points at; "missing" when there is no link; "dangling -> X" when it leads nowhere. */
export async function linkOf(basedir: string, name: 'current' | 'last'): Promise<string> {
  const target = await readlink(join(basedir, name)).catch(() => undefined);
  if (target === undefined) return 'missing';
  const info = await stat(join(basedir, name)).catch(() => undefined);
  return info?.isDirectory() ? target : `dangling -> ${target}`;
}

export const installOf = (app: TestApp, version: string) => join(app.basedir, 'installs', `${app.name}_${version}`);

/** The VERSION an install holds, or undefined when it is not there (complete installs only appear by rename). */
export async function installedVersion(app: TestApp, version: string): Promise<string | undefined> {
  return (await readFile(join(installOf(app, version), 'VERSION'), 'utf8').catch(() => undefined))?.trim();
}

/** Our chain's rule for the app's port, as pp-iptables writes it, is in `save`. */
export function hasRule(save: string, app: TestApp): boolean {
  return save
    .split('\n')
    .some((l) => l.startsWith('-A PLATYPUS ') && l.includes(`--dport ${app.port} `) && l.includes(`platypus:${app.name}`));
}

const running = new Set<Watchdog>();

/** Stops every watchdog still sampling (for afterAll, when a test failed before stopping its own). */
export async function stopWatchdogs(): Promise<void> {
  for (const w of [...running]) await w.stop();
}

/**
 * Samples invariants in the background until stopped: each check returns a violation or undefined. Used to
 * prove that nothing destructive happened while a fault played out, not only that the end state is right.
 */
export class Watchdog {
  readonly violations: string[] = [];
  samples = 0;
  private running = true;
  private loop: Promise<void>;

  constructor(
    private readonly checks: Array<() => Promise<string | undefined>>,
    intervalMs = 150,
  ) {
    running.add(this);
    this.loop = (async () => {
      while (this.running) {
        for (const check of this.checks) {
          const v = await check().catch((err: Error) => `check failed: ${err.message}`);
          if (v !== undefined && this.violations.length < 50) this.violations.push(`${new Date().toISOString()} ${v}`);
        }
        this.samples += 1;
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  /** Stops sampling; resolves with the violations seen. */
  async stop(): Promise<string[]> {
    this.running = false;
    running.delete(this);
    await this.loop;
    return this.violations;
  }
}
