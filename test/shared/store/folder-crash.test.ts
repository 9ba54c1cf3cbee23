import { spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { generationEntries, generationWrites } from '../../support/folder-generations.mjs';
import { seededRandom } from '../../support/seeded-random.js';

const CHILD = resolve(import.meta.dirname, '../../support/folder-txn-child.mjs');
const ITERATIONS = 40;
/** Crash points per transaction of the child: locked, journal written, each write applied, commit counted. */
const STEPS_PER_TXN = 3 + generationWrites(0).length;

interface Child {
  /** Generations the child reported committed, as they arrive. */
  committed: number[];
  /** Resolves when the first generation is reported. */
  started: Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(): void;
}

function runChild(root: string, first: number, last: number, killAt?: number): Child {
  const child = spawn(process.execPath, [CHILD, root, String(first), String(last), ...(killAt ? [String(killAt)] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const committed: number[] = [];
  let stderr = '';
  let onStart: () => void;
  const started = new Promise<void>((r) => {
    onStart = r;
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += String(d);
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const line of lines) committed.push(Number(line));
    if (committed.length > 0) onStart();
  });
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) => {
    child.on('exit', (code, signal) => {
      onStart();
      r({ code, signal, stderr });
    });
  });
  return { committed, started, exit, kill: () => child.kill('SIGKILL') };
}

async function storeAt(gen: number): Promise<{ root: string; store: FolderStore }> {
  const root = await mkdtemp(join(tmpdir(), 'pp-crash-'));
  const store = new FolderStore(root);
  await store.transaction(generationWrites(gen));
  return { root, store };
}

const plain = (entries: Array<{ key: string; value: string }>) => entries.map(({ key, value }) => ({ key, value }));

/** The generation a read of the store shows, or a failure naming the mixed state it shows instead. */
async function generationOf(store: FolderStore, candidates: number[]): Promise<number> {
  const seen = plain((await store.read('p/')).entries);
  const match = candidates.find((g) => JSON.stringify(generationEntries(g)) === JSON.stringify(seen));
  expect(match, `a read shows no whole generation of ${candidates[0]}..${candidates.at(-1)}: ${JSON.stringify(seen)}`).toBeDefined();
  return match!;
}

describe('folder store transactions under SIGKILL', () => {
  it('shows all of a transaction or none after the writer is killed at any step', async () => {
    const random = seededRandom('folder store: kill at a crash point');
    const rounds = 3;
    let killedMidway = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const { root, store } = await storeAt(0);
      const killAt = 1 + Math.floor(random.next() * rounds * STEPS_PER_TXN);
      const child = runChild(root, 1, rounds, killAt);
      const { signal, stderr } = await child.exit;
      expect(signal, `the child should have killed itself at step ${killAt}: ${stderr}`).toBe('SIGKILL');
      // Killed inside transaction k+1, the store holds generation k or k+1, where k is the last one reported.
      const done = child.committed.at(-1) ?? 0;
      const gen = await generationOf(store, [done, done + 1]);
      if ((killAt - 1) % STEPS_PER_TXN >= 1) killedMidway++;
      // A store a writer died in keeps working: its lock is broken, its journal finished, and writes go on.
      await store.transaction(generationWrites(gen + 1));
      expect(await generationOf(store, [gen + 1])).toBe(gen + 1);
      expect((await readdir(root)).filter((n) => n.startsWith('.pp-store-') && n !== '.pp-store-commits')).toEqual([]);
    }
    // Most kill points fall after the journal is written, the case a journal exists for.
    expect(killedMidway).toBeGreaterThan(ITERATIONS / 2);
  }, 120_000);

  it('shows all of a transaction or none when the writer is killed at a random moment', async () => {
    const random = seededRandom('folder store: kill at a random moment');
    for (let i = 0; i < ITERATIONS / 2; i++) {
      const { store, root } = await storeAt(0);
      const child = runChild(root, 1, 1_000_000);
      await child.started;
      await new Promise((r) => setTimeout(r, random.next() * 20)); // the kill point, not a synchronisation
      child.kill();
      await child.exit;
      const done = child.committed.at(-1) ?? 0;
      await generationOf(store, [done, done + 1]);
    }
  }, 120_000);

  it('never shows a reader part of a transaction another process is applying', async () => {
    const { store, root } = await storeAt(0);
    const child = runChild(root, 1, 1_000_000);
    await child.started;
    const seen = new Set<number>();
    for (let i = 0; i < 300 && child.committed.length < 200; i++) {
      const floor = child.committed.at(-1) ?? 0;
      // Generations only move forward: any read lands at or after the last one reported before it began.
      const candidates = Array.from({ length: 1000 }, (_, k) => floor + k);
      seen.add(await generationOf(store, candidates));
    }
    child.kill();
    await child.exit;
    const done = child.committed.at(-1) ?? 0;
    await generationOf(store, [done, done + 1]);
    // The reads did run alongside the writer: they saw it move.
    expect(seen.size).toBeGreaterThan(5);
  }, 120_000);
});
