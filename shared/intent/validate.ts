import type { z } from 'zod';
import { nameProblem } from '../names.js';
import { appIntentSchema, type AppIntent } from './schema.js';

export type Validated = { ok: true; intent: AppIntent } | { ok: false; error: string };

function fieldPath(path: PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out || '(top level)';
}

function describe(where: string, issues: z.core.$ZodIssue[]): string {
  const parts = issues.map((i) => `field ${fieldPath(i.path)}: ${i.message}`);
  return `invalid intent at ${where}: ${parts.join('; ')}`;
}

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
  const parsed = appIntentSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: describe(where, parsed.error.issues) };
  const selfRequired = parsed.data.requires.includes(app);
  if (selfRequired) return { ok: false, error: `invalid intent at ${where}: field requires: an app cannot require itself` };
  return { ok: true, intent: parsed.data };
}
