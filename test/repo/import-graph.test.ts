// The programs' import graph, read from the sources: no module reaches itself through its imports (a cycle makes
// load order decide what a module sees, and two modules that need each other are one concept split in two), and
// the layers hold: bench/ -> agents/, pp/ -> shared/, nothing imports upward, an agent never imports another.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/repo.js';

const TOP = ['shared', 'agents', 'pp', 'bench'];

/** Every .ts module under the programs' folders, by path from the repository root. */
function modules(): string[] {
  return TOP.flatMap((top) =>
    readdirSync(join(REPO, top), { recursive: true, encoding: 'utf8' })
      .filter((p) => p.endsWith('.ts'))
      .map((p) => join(top, p)),
  );
}

/** What each module imports from this repository (static, type-only, re-exports and import()), as paths from the root. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of modules()) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(REPO, file), 'utf8'), true, true);
    const local = importedFiles.map((i) => i.fileName).filter((s) => s.startsWith('.'));
    graph.set(
      file,
      local.map((s) => relative(REPO, resolve(REPO, dirname(file), s.replace(/\.js$/, '.ts')))),
    );
  }
  return graph;
}

/** The import cycles: each strongly connected group of two or more modules (or one importing itself), Tarjan's way. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || graph.get(v)!.includes(v)) found.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Why `from` may not import `to`, or undefined when the layers allow it. */
function layerProblem(from: string, to: string): string | undefined {
  const [top, sub] = from.split('/');
  const [toTop, toSub] = to.split('/');
  if (toTop === top && (top !== 'agents' || toSub === sub)) return undefined;
  if (toTop === 'shared' && top !== 'shared') return undefined;
  if (top === 'bench' && toTop !== 'bench') return undefined; // the top: it drives the agents, pp and the tests' harnesses
  if (top === 'agents' && toTop === 'agents') return `agent ${sub} imports agent ${toSub}`;
  return `${top}/ imports ${toTop}/`;
}

describe('the import graph of shared/, agents/, pp/ and bench/', () => {
  const graph = importGraph();

  it('reads every module and what it imports', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('shared/loop/types.ts')).toContain('shared/intent/node-intent.ts');
  });

  it('has no cycle', () => {
    expect(cycles(graph)).toEqual([]);
    // The check finds one when there is one.
    expect(
      cycles(
        new Map([...graph, ['shared/intent/node-intent.ts', [...graph.get('shared/intent/node-intent.ts')!, 'shared/loop/types.ts']]]),
      ),
    ).toEqual([['shared/intent/node-intent.ts', 'shared/loop/types.ts']]);
  });

  it('keeps the layers: bench/ -> agents/, pp/ -> shared/; nothing imports upward; no agent imports another', () => {
    const problems = [...graph].flatMap(([from, tos]) =>
      tos.flatMap((to) => {
        const why = layerProblem(from, to);
        return why === undefined ? [] : [`${from} -> ${to}: ${why}`];
      }),
    );
    expect(problems).toEqual([]);
    expect(layerProblem('agents/setlive/plan.ts', 'agents/preparer/plan.ts')).toBe('agent setlive imports agent preparer');
    expect(layerProblem('shared/loop/pass.ts', 'agents/setlive/plan.ts')).toBe('shared/ imports agents/');
    expect(layerProblem('pp/commands.ts', 'agents/setlive/plan.ts')).toBe('pp/ imports agents/');
    expect(layerProblem('agents/setlive/plan.ts', 'test/support/runit.ts')).toBe('agents/ imports test/');
  });
});
