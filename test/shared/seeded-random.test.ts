import { afterEach, describe, expect, it, vi } from 'vitest';
import { mulberry32, seededRandom } from '../support/seeded-random.js';

describe('seeded random source for fault tests', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('mulberry32 repeats its sequence for a seed, stays in [0, 1) and differs between seeds', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs.map((x) => Math.floor(x * 10))).size).toBe(10);
    expect(mulberry32(43)()).not.toBe(xs[0]);
  });

  it('takes PLATYPUS_TEST_SEED to replay, prints the seed, and refuses a seed that is not a number', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.stubEnv('PLATYPUS_TEST_SEED', '12345');
    const first = seededRandom('test');
    const again = seededRandom('test');
    expect(first.seed).toBe(12345);
    expect(Array.from({ length: 20 }, () => first.int(1200))).toEqual(Array.from({ length: 20 }, () => again.int(1200)));
    expect(log).toHaveBeenCalledWith('test: random seed 12345 (PLATYPUS_TEST_SEED=12345 replays it)');
    expect(first.replay).toBe('seed 12345 (PLATYPUS_TEST_SEED=12345 replays it)');
    vi.stubEnv('PLATYPUS_TEST_SEED', 'abc');
    expect(() => seededRandom('test')).toThrow('PLATYPUS_TEST_SEED must be an unsigned integer, not abc');
  });
});
