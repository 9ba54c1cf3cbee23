// A tiny real app for the system tests, packed into every artifact beside a VERSION file. Started by runit in
// `<basedir>/current`, it listens on 127.0.0.1:$PORT and answers GET / with its version (from ./VERSION) and
// GET /health with 200 (503 when an UNHEALTHY file lies beside VERSION: a broken version for the rollout tests).
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`version-server: PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
const version = readFileSync('VERSION', 'utf8').trim();
const unhealthy = existsSync('UNHEALTHY');
const server = createServer((req, res) => {
  const health = req.url === '/health';
  res.writeHead(health && unhealthy ? 503 : 200, { 'content-type': 'text/plain' });
  res.end(health ? (unhealthy ? 'broken' : 'ok') : version);
});
server.listen(port, '127.0.0.1', () => console.log(`version ${version} listening on 127.0.0.1:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
