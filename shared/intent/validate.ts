import { nameProblem } from '../names.js';
import { formatProblems } from './problems.js';
import { type AppIntent, checkAppIntent } from './schema.js';

export type Validated = { ok: true; intent: AppIntent } | { ok: false; error: string };

/** Parses and validates one app's intent JSON; the error names `where` ("key K" or "file F"), each bad field and what was expected. */
export function validateAppIntent(where: string, app: string, json: string): Validated {
  const problem = nameProblem(app);
  if (problem) return { ok: false, error: `invalid intent at ${where}: app name ${problem}` };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return { ok: false, error: `invalid intent at ${where}: not JSON (${(err as Error).message})` };
  }
  const checked = checkAppIntent(raw);
  if (!checked.ok) return { ok: false, error: `invalid intent at ${where}: ${formatProblems(checked.problems)}` };
  const selfRequired = checked.intent.requires.includes(app);
  if (selfRequired) return { ok: false, error: `invalid intent at ${where}: field requires: an app cannot require itself` };
  return { ok: true, intent: checked.intent };
}
