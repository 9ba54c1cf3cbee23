import { nodeIntentFromSnapshot, type NodeIntent } from '../../../shared/intent/node-intent.js';
import { appIntentKey, drainedKey } from '../../../shared/keys.js';
import { intentWith, NODE, PREFIX, type PortArg } from './support.js';

/** A NodeIntent built the way the loop builds it: valid apps from ports, raw JSON for invalid ones. */
export function nodeIntent(apps: Record<string, PortArg[] | string>, drained = false): NodeIntent {
  const entries = Object.entries(apps).map(([app, v]) => ({
    key: appIntentKey(PREFIX, NODE, app),
    value: typeof v === 'string' ? v : intentWith(app, v),
  }));
  if (drained) entries.push({ key: drainedKey(PREFIX, NODE), value: '' });
  return nodeIntentFromSnapshot(PREFIX, NODE, { index: 1, entries });
}

export const INVALID = '{"schema":1,"basedir":"relative"}';
