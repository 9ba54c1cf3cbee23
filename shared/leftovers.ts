import { lstat } from 'node:fs/promises';
import { tempLabel } from './temp-files.js';
import { removeTree } from './remove-tree.js';

/**
 * Leftovers of a killed run (temp files and folders renamed aside, see temp-files.ts) are cleaned the same way in
 * every agent: `observe` lists them, the pure `plan` gives each to the app it belongs to as this action, and
 * `apply` removes them. So a dry run shows them, and a pass never deletes behind the loop's back.
 */
export interface CleanLeftoversAction {
  kind: 'clean-leftovers';
  app: string;
  paths: string[];
}

/** One line for logs and --dry-run. */
export function describeCleanLeftovers(a: CleanLeftoversAction): string {
  return `remove ${a.paths.length} leftover(s) of a killed run: ${a.paths.join(', ')}`;
}

/** Removes the given leftovers; true when any existed. */
export async function removeLeftovers(paths: string[]): Promise<boolean> {
  let removed = false;
  for (const path of paths) {
    const existed = (await lstat(path).catch(() => undefined)) !== undefined;
    await removeTree(path);
    removed ||= existed;
  }
  return removed;
}

/**
 * Pure: gives each leftover to the app its temp label starts with (the longest such app name, followed by a
 * separator or the end), else to the first of `apps` (sorted), so every leftover is cleaned by some app's plan.
 * With no app at all, leftovers wait for one.
 */
export function assignLeftovers(paths: string[], apps: Iterable<string>): Map<string, string[]> {
  const names = [...apps].sort();
  const out = new Map<string, string[]>();
  if (names.length === 0) return out;
  for (const path of paths) {
    const label = tempLabel(path) ?? '';
    let owner: string | undefined;
    for (const app of names) {
      const next = label.charAt(app.length);
      if (label.startsWith(app) && (next === '' || '_.-'.includes(next)) && (owner === undefined || app.length > owner.length)) owner = app;
    }
    const key = owner ?? names[0]!;
    out.set(key, [...(out.get(key) ?? []), path]);
  }
  return out;
}

/** The clean action for `app` from an assignment, as a list of zero or one action to spread into a plan. */
export function cleanActionsFor(app: string, assigned: Map<string, string[]>): CleanLeftoversAction[] {
  const paths = assigned.get(app);
  return paths && paths.length > 0 ? [{ kind: 'clean-leftovers', app, paths }] : [];
}
