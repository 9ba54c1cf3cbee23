import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { consulConfigFrom } from './consul-config.js';
import { FolderStore } from './folder-store.js';
import type { IntentStore } from './types.js';

/** The embedded default store's folder: $PLATYPUS_ROOT/store, else ~/.platypus/store. */
export function defaultStoreSpec(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.PLATYPUS_ROOT ? resolve(env.PLATYPUS_ROOT) : join(homedir(), '.platypus');
  return `folder:${join(root, 'store')}`;
}

/**
 * Opens the store named by `spec`: `folder:PATH`, `consul://HOST:PORT[,HOST:PORT…]`, `consul+https://…`
 * or `consul` (CONSUL_HTTP_ADDR). Undefined means $PLATYPUS_STORE, else the embedded folder store.
 * The Consul client is loaded only when used: it costs an idle agent on the folder store megabytes of heap.
 */
export async function openStore(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<IntentStore> {
  const chosen = spec || env.PLATYPUS_STORE || defaultStoreSpec(env);
  if (chosen.startsWith('folder:')) {
    const path = chosen.slice('folder:'.length);
    if (!path) throw new Error('--store folder: needs a path, e.g. folder:/var/lib/platypus/store');
    return new FolderStore(resolve(path));
  }
  const { ConsulStore } = await import('./consul-store.js');
  if (chosen === 'consul') return new ConsulStore(consulConfigFrom(undefined, env));
  const m = /^consul(\+https)?:\/\/(.+)$/.exec(chosen);
  if (m) {
    const scheme = m[1] ? 'https' : 'http';
    const list = m[2]!
      .replace(/\/$/, '')
      .split(',')
      .map((a) => `${scheme}://${a}`)
      .join(',');
    return new ConsulStore(consulConfigFrom(list, env));
  }
  throw new Error(`unknown store ${JSON.stringify(chosen)}: expected folder:PATH, consul://HOST:PORT or consul+https://HOST:PORT`);
}
