import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'vitest/config';

/** Where the workers' bundles are written: under node_modules, so a bundle's own package imports resolve from it. */
const OUT = resolve(import.meta.dirname, '../../node_modules/.cache/platypus-worker-modules');

/** `new URL('./name.js', import.meta.url)`, the way a module names the file a Worker runs (see tree-writer.ts). */
const WORKER_URL = /new URL\((['"])(\.{1,2}\/[^'"]+)\.js\1, import\.meta\.url\)/g;

/**
 * A vite plugin for vitest, which runs the TypeScript sources: a module that starts a worker thread from a module
 * file names the compiled `.js` beside it, which exists under dist/ only, and a worker thread cannot load
 * TypeScript. Where the source names such a `.js` and only its `.ts` is there, the plugin bundles that `.ts` (with
 * what it imports) into one JavaScript file and points the URL at it, so the worker starts as it does from dist/,
 * with no module hooks in the worker. A bundle is named by its content and built once per test process.
 */
export function workerModules(): Plugin {
  const built = new Map<string, Promise<string>>();
  const bundle = (entry: string): Promise<string> => {
    if (!built.has(entry)) built.set(entry, bundleOf(entry));
    return built.get(entry)!;
  };
  return {
    name: 'platypus-worker-modules',
    async transform(code, id) {
      if (!id.endsWith('.ts') || !code.includes('import.meta.url')) return undefined;
      const found = [...code.matchAll(WORKER_URL)];
      const urls = new Map<string, string>();
      for (const [text, , path] of found) {
        const js = resolve(dirname(id), `${path}.js`);
        const ts = resolve(dirname(id), `${path}.ts`);
        if (existsSync(js) || !existsSync(ts)) continue;
        urls.set(text, `new URL(${JSON.stringify(pathToFileURL(await bundle(ts)).href)})`);
      }
      if (urls.size === 0) return undefined;
      return { code: code.replace(WORKER_URL, (text) => urls.get(text) ?? text), map: null };
    },
  };
}

/** Bundles `entry` (packages stay imports) into OUT, named by its content; resolves to the bundle's path. */
async function bundleOf(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    sourcemap: 'inline',
    write: false,
    outfile: join(OUT, 'bundle.mjs'),
  });
  const text = result.outputFiles[0]!.contents;
  const outfile = join(OUT, `${createHash('sha256').update(text).digest('hex').slice(0, 16)}.mjs`);
  if (existsSync(outfile)) return outfile;
  await mkdir(OUT, { recursive: true });
  // Written aside, then renamed: another test process starting a worker from it meanwhile finds all of it or none.
  const aside = `${outfile}.${process.pid}.tmp`;
  await writeFile(aside, text);
  await rename(aside, outfile);
  return outfile;
}
