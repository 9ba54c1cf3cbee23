import { describe, expect, it } from 'vitest';
import { nameProblem, SAFE_NAME_PATTERN } from '../../shared/names.js';

describe('nameProblem', () => {
  it('accepts ordinary names and refuses ones that could escape a folder', () => {
    expect(nameProblem('web-1.2_3')).toBeUndefined();
    for (const bad of ['', '..', 'a/b', 'a\\b', '.hidden', 'a..b', 'x\u0001', '../etc']) expect(nameProblem(bad)).toBeDefined();
  });

  it('agrees with the single pattern the intent schema uses', () => {
    for (const name of [
      'web-1.2_3',
      'a@b+c',
      '9',
      'x'.repeat(128),
      'x'.repeat(129),
      '',
      '..',
      'a/b',
      'a\\b',
      '.hidden',
      'a..b',
      'a.b',
      'x\u0001',
      '../etc',
      '-a',
      'é',
    ]) {
      expect(SAFE_NAME_PATTERN.test(name)).toBe(nameProblem(name) === undefined);
    }
  });
});
