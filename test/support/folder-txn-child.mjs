// A writer for the folder store's crash tests, run as its own process from the built store in dist/.
// Usage: node folder-txn-child.mjs ROOT FIRST_GENERATION LAST_GENERATION [KILL_AT_STEP]
// It moves the store through generations FIRST..LAST (see generationWrites), one transaction each, printing
// each generation once committed. With KILL_AT_STEP it SIGKILLs itself at that crash point (counted from 1).
import { FolderStore } from '../../dist/shared/store/folder-store.js';
import { generationWrites } from './folder-generations.mjs';

const [root, first, last, killAt] = process.argv.slice(2);
let steps = 0;

class CrashingStore extends FolderStore {
  crashPoint() {
    if (++steps === Number(killAt)) process.kill(process.pid, 'SIGKILL');
  }
}

const store = new CrashingStore(root);
for (let gen = Number(first); gen <= Number(last); gen++) {
  await store.transaction(generationWrites(gen));
  process.stdout.write(`${gen}\n`);
}
