// A tiny real app for pp-setlive tests. Started by runit with its install folder as working folder, it
// listens on 127.0.0.1:$PORT and answers GET / with {"version", "greeting", "pid"} (version from ./VERSION,
// greeting from $GREETING). GET /health answers 200, or the status and text in ./HEALTH when that file exists
// (e.g. "503 database unreachable"), which is how a test builds a version that fails its health check.
// With ./LISTEN_DELAY_MS it starts listening that many milliseconds late, as an app with a slow boot does.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`version-server: PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
const version = readFileSync('VERSION', 'utf8').trim();
let health = { status: 200, text: 'ok' };
try {
  const [status, ...text] = readFileSync('HEALTH', 'utf8').trim().split(' ');
  health = { status: Number(status), text: text.join(' ') };
} catch {
  // no HEALTH file: healthy
}

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(health.status, { 'content-type': 'text/plain' });
    res.end(health.text);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ version, greeting: process.env.GREETING ?? null, pid: process.pid }));
});
let listenDelayMs = 0;
try {
  listenDelayMs = Number(readFileSync('LISTEN_DELAY_MS', 'utf8').trim());
} catch {
  // no LISTEN_DELAY_MS file: listens at once
}
setTimeout(() => server.listen(port, '127.0.0.1', () => console.log(`version ${version} listening on 127.0.0.1:${port}`)), listenDelayMs);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
