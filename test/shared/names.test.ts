import { describe, expect, it } from 'vitest';
import { nameProblem } from '../../shared/names.js';

describe('nameProblem', () => {
  it('accepts ordinary names and refuses ones that could escape a folder', () => {
    expect(nameProblem('web-1.2_3')).toBeUndefined();
    for (const bad of ['', '..', 'a/b', 'a\\b', '.hidden', 'a..b', 'x\u0001', '../etc']) expect(nameProblem(bad)).toBeDefined();
  });
});
