import { describe, expect, it } from 'vitest';
import { backoffDelay, MIN_DELAY_MS } from '../../shared/backoff.js';
import { RetryBook } from '../../shared/loop/retry-book.js';
import { mulberry32 } from '../support/seeded-random.js';

const draws = (n: number, attempt: number, baseMs: number, maxMs: number, seed = 7) => {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => backoffDelay(attempt, { baseMs, maxMs, random }));
};

describe('backoffDelay', () => {
  it('spreads a retry over the whole capped exponential (full jitter), not only its upper half', () => {
    // Third retry from 1 s: the bound is 4 s.
    const delays = draws(2000, 3, 1000, 60_000);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(MIN_DELAY_MS);
    expect(Math.max(...delays)).toBeLessThanOrEqual(4000);
    // Equal jitter would never go below 2 s; full jitter fills every quarter of [floor, bound].
    const quarters = new Set(delays.map((d) => Math.floor(((d - MIN_DELAY_MS) / (4000 - MIN_DELAY_MS)) * 4)));
    expect([...quarters].filter((q) => q < 4).sort()).toEqual([0, 1, 2, 3]);
    expect(delays.filter((d) => d < 2000).length).toBeGreaterThan(delays.length / 3);
  });

  it('never waits less than the floor, so a retry never spins, nor more than the bound', () => {
    expect(backoffDelay(1, { baseMs: 2000, maxMs: 300_000, random: () => 0 })).toBe(MIN_DELAY_MS);
    expect(backoffDelay(1, { baseMs: 2000, maxMs: 300_000, random: () => 0.999_999 })).toBe(2000);
    expect(backoffDelay(20, { baseMs: 2000, maxMs: 300_000, random: () => 0.999_999 })).toBe(300_000);
    expect(backoffDelay(20, { baseMs: 2000, maxMs: 300_000, random: () => 0 })).toBe(MIN_DELAY_MS);
    for (const d of draws(500, 12, 2000, 300_000, 11)) expect(d).toBeGreaterThanOrEqual(MIN_DELAY_MS);
  });

  it('keeps a base smaller than the floor as its floor, and a cap below it as the delay', () => {
    for (const d of draws(200, 1, 20, 50)) expect(d).toBe(20);
    for (const d of draws(200, 3, 20, 50)) {
      expect(d).toBeGreaterThanOrEqual(20);
      expect(d).toBeLessThanOrEqual(50);
    }
    expect(new Set(draws(200, 3, 20, 50)).size).toBeGreaterThan(10);
  });

  it('gives the same delays for the same random numbers', () => {
    expect(draws(50, 4, 1000, 60_000, 99)).toEqual(draws(50, 4, 1000, 60_000, 99));
  });
});

describe('RetryBook', () => {
  it('books each failing app its own jittered retry, growing with its attempts and reset by a success', () => {
    let now = 1_000_000;
    const book = new RetryBook({ baseMs: 2000, maxMs: 300_000, random: mulberry32(3) }, () => now);
    const first = book.fail('web', 'boom');
    expect(first).toBeGreaterThanOrEqual(MIN_DELAY_MS);
    expect(first).toBeLessThanOrEqual(2000);
    expect(book.waiting('web')).toBe(true);
    expect(book.nextRetryIn()).toBe(first);
    now += first;
    expect(book.waiting('web')).toBe(false);
    const bounds = [4000, 8000, 16_000, 32_000];
    for (const bound of bounds) expect(book.fail('web', 'boom')).toBeLessThanOrEqual(bound);
    expect(book.get('web')).toMatchObject({ attempts: 5, error: 'boom' });
    book.succeed('web');
    expect(book.get('web')).toBeUndefined();
    expect(book.fail('web', 'again')).toBeLessThanOrEqual(2000);
  });
});
