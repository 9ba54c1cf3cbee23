/**
 * JSON with object keys sorted at every level, so equal content always gives equal text. Total: every own
 * enumerable key is written, `__proto__` included (the sorted copy has no prototype, so no key is special), because
 * this text is what a signature and an intent digest cover: a key left out here would be outside both.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = sortKeys(v);
  }
  return out;
}
