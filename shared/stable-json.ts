import { JSON_DEPTH_LIMIT } from './json-depth.js';

/**
 * JSON with object keys sorted at every level, so equal content always gives equal text. Total: every own
 * enumerable key is written, `__proto__` included (the sorted copy has no prototype, so no key is special), because
 * this text is what a signature and an intent digest cover: a key left out here would be outside both. A value
 * nested deeper than JSON_DEPTH_LIMIT is refused with an error saying so, before the recursion could run out of stack.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, 0));
}

function sortKeys(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= JSON_DEPTH_LIMIT) throw new Error(`JSON nested deeper than the limit of ${JSON_DEPTH_LIMIT} levels`);
  if (Array.isArray(value)) return value.map((v) => sortKeys(v, depth + 1));
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = sortKeys(v, depth + 1);
  }
  return out;
}
