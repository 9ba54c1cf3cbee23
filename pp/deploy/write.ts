import { appIntentKey, DRAINED_MARKER, drainedKey, intentSerialKey, nodeIntentPrefix } from '../../shared/keys.js';
import { ConflictError, type IntentStore, type KvWrite } from '../../shared/store/types.js';
import { isRemoval } from './analyze.js';

/** Consul's limit on operations in one transaction. */
const TXN_LIMIT = 64;

/** A node's app key and serial as read just now: what a write to it is checked against. */
export interface NodeState {
  node: string;
  value?: string;
  index: number;
  serial: { value: number; index: number };
  drained: boolean;
  otherApps: number;
}

export async function readNodeState(store: IntentStore, prefix: string, node: string, app: string): Promise<NodeState> {
  const key = appIntentKey(prefix, node, app);
  const serialKey = intentSerialKey(prefix, node);
  const [intent, serial] = await Promise.all([store.read(nodeIntentPrefix(prefix, node)), store.read(serialKey)]);
  const entry = intent.entries.find((e) => e.key === key);
  const serialEntry = serial.entries.find((e) => e.key === serialKey);
  return {
    node,
    value: entry?.value,
    index: entry?.modifyIndex ?? 0,
    serial: { value: Number(serialEntry?.value) || 0, index: serialEntry?.modifyIndex ?? 0 },
    drained: intent.entries.some((e) => e.key.endsWith(`/${DRAINED_MARKER}`)),
    otherApps: intent.entries.filter((e) => e.key !== key && !e.key.endsWith(`/${DRAINED_MARKER}`) && !isRemoval(e.value)).length,
  };
}

/**
 * One node's write: the app's new value (null: remove it; a signed removal removes it too, for agents run with
 * --trusted-signers) checked against `state`, read when the plan was made.
 */
export interface NodeWrite {
  state: NodeState;
  value: string | null;
}

/**
 * The writes of one node: its app key and its serial key, both check-and-set against `state`, so any write to the
 * node's intent since (by pp or another operator) fails them; a drained marker is lifted with a put and put back
 * when the node's last app is removed, as `pp intent put`/`rm` do.
 */
function opsOf(prefix: string, app: string, w: NodeWrite): KvWrite[] {
  const { node } = w.state;
  const removes = w.value === null || isRemoval(w.value);
  const ops: KvWrite[] = [
    { key: intentSerialKey(prefix, node), value: String(w.state.serial.value + 1), ifIndex: w.state.serial.index },
    { key: appIntentKey(prefix, node, app), value: w.value, ifIndex: w.state.index },
  ];
  if (!removes && w.state.drained) ops.push({ key: drainedKey(prefix, node), value: null });
  if (removes && w.state.otherApps === 0 && !w.state.drained)
    ops.push({ key: drainedKey(prefix, node), value: JSON.stringify({ at: new Date().toISOString() }) });
  return ops;
}

/**
 * Writes every node's value in as few transactions as fit (≤ 64 operations each). A transaction refused by a
 * check-and-set is split into one per node, so only the nodes whose intent changed since are left out; they are
 * returned in `changed`, never overwritten.
 */
export async function writeNodes(
  store: IntentStore,
  prefix: string,
  app: string,
  writes: NodeWrite[],
  beforeEach: () => void,
): Promise<{ written: string[]; changed: string[] }> {
  const written: string[] = [];
  const changed: string[] = [];
  let batch: NodeWrite[] = [];
  let ops: KvWrite[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    beforeEach();
    try {
      await store.transaction(ops);
      written.push(...batch.map((w) => w.state.node));
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      for (const w of batch) {
        beforeEach();
        try {
          await store.transaction(opsOf(prefix, app, w));
          written.push(w.state.node);
        } catch (e) {
          if (!(e instanceof ConflictError)) throw e;
          changed.push(w.state.node);
        }
      }
    }
    batch = [];
    ops = [];
  };
  for (const w of writes) {
    const own = opsOf(prefix, app, w);
    if (ops.length + own.length > TXN_LIMIT) await flush();
    batch.push(w);
    ops.push(...own);
  }
  await flush();
  return { written, changed };
}
