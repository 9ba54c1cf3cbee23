// The states the folder-store crash tests move a store through: generation g sets some keys to `g` and
// deletes the others, and the set of deleted keys differs from one generation to the next, so a read that
// mixes two generations shows either mixed values or a key present/absent against the pattern.

export const GENERATION_KEYS = ['p/intent/n1/a', 'p/intent/n1/b', 'p/intent/n1/c', 'p/intent/n2/d', 'p/reality/n1/x/e', 'p/z'];

const present = (gen, i) => (gen + i) % 3 !== 0;

/** The writes that take the store from any generation to generation `gen`. */
export function generationWrites(gen) {
  return GENERATION_KEYS.map((key, i) => ({ key, value: present(gen, i) ? `gen ${gen}` : null }));
}

/** The entries a read of `p/` shows at generation `gen`, sorted by key. */
export function generationEntries(gen) {
  return GENERATION_KEYS.flatMap((key, i) => (present(gen, i) ? [{ key, value: `gen ${gen}` }] : [])).sort((a, b) =>
    a.key < b.key ? -1 : 1,
  );
}
