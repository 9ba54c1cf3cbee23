import { join } from 'node:path';
import type { AppIntent } from '../../shared/intent/schema.js';
import type { SetliveConfig } from './options.js';

/** The permission bits of both scripts: runsv executes them. */
export const SCRIPT_MODE = 0o755;

/** The two scripts of an app's runit service folder, as they should read. */
export interface ServiceFiles {
  run: string;
  logRun: string;
}

/** Quotes one word for /bin/sh so that nothing in it is expanded. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The first two lines of every `run` script pp-setlive writes, the same in every version that wrote one. */
function runScriptHead(app: string): string {
  return `#!/bin/sh\n# Written by pp-setlive for app ${app}; it is rewritten whenever the intent changes.\n`;
}

/** True when `script` is a `run` script pp-setlive wrote for `app` (by its head, which names the app). */
export function isRunScriptOf(app: string, script: string): boolean {
  return script.startsWith(runScriptHead(app));
}

/**
 * The `run` script: stderr joins stdout (for svlogd), the working folder is `<basedir>/current` (resolved at
 * start, so a running process keeps its version until restarted), then the intended command is exec'd with
 * the intended env, through `chpst -u` only when a user is named (chpst -u needs root).
 */
export function renderRunScript(app: string, intent: AppIntent, config: SetliveConfig): string {
  const service = intent.service;
  if (!service) throw new Error(`app ${app}: field service: required to write a run script`);
  const words: string[] = [];
  if (service.user) words.push(config.chpst, '-u', service.user);
  const env = Object.entries(service.env).sort(([a], [b]) => (a < b ? -1 : 1));
  if (env.length > 0) words.push('env', ...env.map(([k, v]) => `${k}=${v}`));
  words.push(...service.command);
  return (
    runScriptHead(app) +
    ['exec 2>&1', `cd ${shellQuote(join(intent.basedir, 'current'))} || exit 111`, `exec ${words.map(shellQuote).join(' ')}`, ''].join('\n')
  );
}

/** The `log/run` script: svlogd writing UTC-timestamped (-tt) lines into `log/main`. */
export function renderLogRunScript(config: SetliveConfig): string {
  return ['#!/bin/sh', `exec ${shellQuote(config.svlogd)} -tt ./main`, ''].join('\n');
}

/** Both scripts for an app with a service. */
export function renderServiceFiles(app: string, intent: AppIntent, config: SetliveConfig): ServiceFiles {
  return { run: renderRunScript(app, intent, config), logRun: renderLogRunScript(config) };
}
