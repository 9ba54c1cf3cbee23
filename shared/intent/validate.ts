import { jsonDepthProblem } from '../json-depth.js';
import { nameProblem } from '../names.js';
import { bytesOverLimit, valueTooLarge } from '../store/types.js';
import { formatProblems } from './problems.js';
import { type AppIntent, checkAppIntent } from './schema.js';
import { checks } from './sections.js';

export type Validated = { ok: true; intent: AppIntent } | { ok: false; error: string };

/**
 * Parses and validates one app's intent JSON; the error names `where` ("key K" or "file F"), each bad field and what
 * was expected. `reader`: the agent that reads it, which passes over the sections of other agents (checkAppIntent).
 */
export function validateAppIntent(where: string, app: string, json: string, reader?: string): Validated {
  const problem = nameProblem(app);
  if (problem) return { ok: false, error: `invalid intent at ${where}: app name ${problem}` };
  const bytes = bytesOverLimit(json);
  if (bytes !== undefined) return { ok: false, error: `invalid intent at ${where}: ${valueTooLarge(bytes)}` };
  // Bytes that are not UTF-8 reach us as U+FFFD: refused, or the agents would act on a value nobody wrote.
  const bad = json.indexOf('\uFFFD');
  if (bad >= 0) return { ok: false, error: `invalid intent at ${where}: not valid UTF-8 (a replacement character at offset ${bad})` };
  // Before parsing: what walks a parsed value recursively would run out of stack on it, naming nothing.
  const deep = jsonDepthProblem(json);
  if (deep) return { ok: false, error: `invalid intent at ${where}: ${deep}` };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return { ok: false, error: `invalid intent at ${where}: not JSON (${(err as Error).message})` };
  }
  const checked = checkAppIntent(raw, reader);
  if (!checked.ok) return { ok: false, error: `invalid intent at ${where}: ${formatProblems(checked.problems)}` };
  const selfRequired = checks(reader, 'requires') && checked.intent.requires.includes(app);
  if (selfRequired) return { ok: false, error: `invalid intent at ${where}: field requires: an app cannot require itself` };
  return { ok: true, intent: checked.intent };
}
