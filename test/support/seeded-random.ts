/** mulberry32: a tiny 32-bit PRNG; the same seed gives the same numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeededRandom {
  seed: number;
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** "seed N (PLATYPUS_TEST_SEED=N replays it)", for failure messages. */
  replay: string;
}

/**
 * The random source of a test that picks faults at random (kill instants, victims): seeded from
 * PLATYPUS_TEST_SEED when set, so a failure can be replayed, else from the clock. Prints the seed, so
 * every run's log says how to replay it.
 */
export function seededRandom(what: string): SeededRandom {
  const fromEnv = process.env.PLATYPUS_TEST_SEED ?? '';
  if (fromEnv !== '' && !/^\d+$/.test(fromEnv)) throw new Error(`PLATYPUS_TEST_SEED must be an unsigned integer, not ${fromEnv}`);
  const seed = fromEnv !== '' ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const replay = `seed ${seed} (PLATYPUS_TEST_SEED=${seed} replays it)`;
  console.log(`${what}: random ${replay}`);
  const next = mulberry32(seed);
  return { seed, next, int: (n) => Math.floor(next() * n), replay };
}
