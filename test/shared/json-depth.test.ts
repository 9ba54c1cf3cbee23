import { describe, expect, it } from 'vitest';
import { JSON_DEPTH_LIMIT, jsonDepthProblem, parseJson } from '../../shared/json-depth.js';
import { stableJson } from '../../shared/stable-json.js';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('JSON depth limit', () => {
  it('takes 64 levels of objects and arrays and names the first level past them, without parsing', () => {
    expect(JSON_DEPTH_LIMIT).toBe(64);
    expect(jsonDepthProblem(nested(64))).toBeUndefined();
    expect(jsonDepthProblem(`{"a":${nested(63)}}`)).toBeUndefined();
    expect(jsonDepthProblem(nested(65))).toBe('JSON nested deeper than the limit of 64 levels (level 65 opens at offset 64)');
    // Unfinished text is refused as soon as the level past the limit opens: 100,000 '[' cost one short scan.
    expect(jsonDepthProblem('['.repeat(100_000))).toMatch(/level 65 opens at offset 64/);
  });

  it('counts no bracket inside a string, escaped quotes and backslashes included', () => {
    const inString = (s: string) => `[${JSON.stringify(s)}]`;
    for (const s of ['['.repeat(100), '\\"[[[[', '\\\\', `\\${'{'.repeat(100)}`, `"${'['.repeat(100)}"`])
      expect(jsonDepthProblem(inString(s)), s).toBeUndefined();
    expect(jsonDepthProblem(`["\\\\",${nested(64)}]`)).toMatch(/level 65/); // the string ends at the escaped backslash
  });

  it('parses what fits and refuses what does not, with that error', () => {
    expect(parseJson('{"a":[1,{"b":2}]}')).toEqual({ a: [1, { b: 2 }] });
    expect(() => parseJson(nested(100_000))).toThrow('JSON nested deeper than the limit of 64 levels');
    expect(() => parseJson('{nope')).toThrow(SyntaxError);
  });

  it('is kept by stableJson too, which would otherwise run out of stack on what JSON.parse accepts', () => {
    expect(stableJson(JSON.parse(nested(64)))).toBe(nested(64));
    expect(() => stableJson(JSON.parse(nested(100_000)))).toThrow('JSON nested deeper than the limit of 64 levels');
  });
});
