import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { readRecord } from '../../support/reality.js';
import { FolderStore } from '../../../shared/store/folder-store.js';

export const PREFIX = 'platypus';
export const NODE = 'node1';

/** Ports as the intent writes them: [8080, [53, 'udp']]. */
export type PortArg = number | [number, 'tcp' | 'udp'];

/** A valid app intent opening `ports`. */
export function intentWith(app: string, ports: PortArg[]): string {
  const list = ports.map((p) => (typeof p === 'number' ? { port: p, protocol: 'tcp' } : { port: p[0], protocol: p[1] }));
  return JSON.stringify({ schema: 1, basedir: `/srv/${app}`, ports: list });
}

/** A folder store in a fresh temp folder, with helpers to write intent and read reality. */
export async function testStore() {
  const root = await mkdtemp(join(tmpdir(), 'pp-iptables-'));
  const store = new FolderStore(join(root, 'store'));
  return {
    root,
    store,
    setApp: (app: string, ports: PortArg[]) => store.put(appIntentKey(PREFIX, NODE, app), intentWith(app, ports)),
    setRaw: (app: string, json: string) => store.put(appIntentKey(PREFIX, NODE, app), json),
    removeApp: (app: string) => store.delete(appIntentKey(PREFIX, NODE, app)),
    drain: () => store.put(drainedKey(PREFIX, NODE), ''),
    undrain: () => store.delete(drainedKey(PREFIX, NODE)),
    reality: async (app: string, agent = 'iptables') => {
      return readRecord(store, realityKey(PREFIX, NODE, agent, app));
    },
  };
}
