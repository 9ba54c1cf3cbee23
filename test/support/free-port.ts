import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * Ports are taken below the kernel's ephemeral range (ip_local_port_range, 32768–60999 by default), one band per
 * vitest worker. A port the kernel offers for `listen(0)` is also what it gives the next outgoing connection as its
 * source port and what another worker's probe gets next: either took an app's port while it was down between
 * two flips, and the app's health check then reached a stranger ("Empty reply from server"). Here only our own
 * explicit binds compete, each worker in its own band, and a probe skips any port some process holds.
 */
const FIRST = 10_000;
const BAND = 2_000;
const band = FIRST + (Number(process.env.VITEST_POOL_ID ?? 0) % 10) * BAND;

/**
 * Ports this process has handed out: a probe closes the port again at once, and a test that asks for many at once
 * (a Consul cluster takes 16) must not get one twice.
 */
const handedOut = new Set<number>();
/** Where the next search starts: random, so two test files that run one after the other in a worker don't collide. */
let next = randomInt(BAND);

/** Whether 127.0.0.1:port can be listened on now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago, and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < BAND; tried++) {
    const port = band + (next++ % BAND);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${band}-${band + BAND - 1}`);
}
