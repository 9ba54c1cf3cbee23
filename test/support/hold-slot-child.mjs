// Holds a rollout slot from its own process, for the semaphore's tests, from the built code in dist/.
// Usage: node hold-slot-child.mjs STORE_SPEC PREFIX NODE APP LIMIT TTL_MS
// Prints "held" once it holds the slot, then waits until it is killed.
import { openStore } from '../../dist/shared/store/open-store.js';
import { FlipSemaphore } from '../../dist/shared/rollout/semaphore.js';

const [spec, prefix, node, app, limit, ttlMs] = process.argv.slice(2);
const store = await openStore(spec);
const leases = store.leases({ name: `test ${node}`, ttlMs: Number(ttlMs) });
await new FlipSemaphore(store, leases, prefix, node).acquire(app, Number(limit), '1.0', new AbortController().signal, () => {});
process.stdout.write('held\n');
setInterval(() => {}, 1 << 30);
