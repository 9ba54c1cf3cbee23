#!/usr/bin/env node
// Writes the files derived from agents/agents.json: package.json's `bin` (pp and pp-<name> for each agent) and
// deploy/systemd/pp-<name>.service. They are checked in so that npm and systemd find them without a build step;
// run `npm run generate` after changing agents/agents.json (a test fails while they are out of date).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The agents of the repository at `root`, as listed in its agents/agents.json. */
export function readAgents(root) {
  const { agents } = JSON.parse(readFileSync(join(root, 'agents/agents.json'), 'utf8'));
  for (const a of agents) {
    // Names become folder names, program names and words in shell scripts.
    if (!/^[a-z][a-z0-9-]*$/.test(a.name))
      throw new Error(`agents/agents.json: agent name ${JSON.stringify(a.name)}: expected lowercase letters, digits and -`);
    if (typeof a.summary !== 'string' || !a.summary || /\n/.test(a.summary))
      throw new Error(`agents/agents.json: agent ${a.name}: expected a one-line summary`);
  }
  checkAgentList(agents);
  return agents;
}

/** package.json's `bin`: the operator CLI first, then every agent in list order. */
export function binEntries(agents) {
  return { pp: 'dist/pp/index.js', ...Object.fromEntries(agents.map((a) => [`pp-${a.name}`, `dist/agents/${a.name}/index.js`])) };
}

/**
 * Each agent's own metricsPort and everyNode, checked here as shared/agent-list.ts checks them for the programs:
 * a port written per agent, so adding an agent never moves another one's.
 */
function checkAgentList(agents) {
  const names = new Set();
  const ports = new Map();
  for (const a of agents) {
    if (names.has(a.name)) throw new Error(`agents/agents.json: agent ${a.name} is listed twice`);
    names.add(a.name);
    if (!Number.isInteger(a.metricsPort) || a.metricsPort < 1024 || a.metricsPort > 65535)
      throw new Error(`agents/agents.json: agent ${a.name}: field metricsPort: expected a port from 1024 to 65535`);
    if (ports.has(a.metricsPort))
      throw new Error(
        `agents/agents.json: agent ${a.name}: field metricsPort: ${a.metricsPort} is agent ${ports.get(a.metricsPort)}'s already`,
      );
    ports.set(a.metricsPort, a.name);
    if (typeof a.everyNode !== 'boolean') throw new Error(`agents/agents.json: agent ${a.name}: field everyNode: expected true or false`);
  }
}

/** The systemd unit of one agent of agents/agents.json. */
export function systemdUnit(agent) {
  const program = `pp-${agent.name}`;
  return `[Unit]
Description=Platypus ${program}: ${agent.summary}
Documentation=file:///usr/share/doc/platypus/README.md
After=network-online.target
Wants=network-online.target

[Service]
# /metrics and /healthz on loopback, one port per agent (README "Monitoring"); the env files may move it.
Environment=PLATYPUS_METRICS_ADDRESS=127.0.0.1:${agent.metricsPort}
# PLATYPUS_STORE, PLATYPUS_NODE, PLATYPUS_PREFIX, CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, PLATYPUS_ARGS …
EnvironmentFile=-/etc/platypus/platypus.env
EnvironmentFile=-/etc/platypus/${program}.env
ExecStart=/bin/sh -c 'exec ${program} $PLATYPUS_ARGS'
# Restart always: the agent is idempotent, restarting it at any time is safe.
Restart=always
RestartSec=2
# SIGTERM: finish the action in flight, write reality, exit 0.
KillSignal=SIGTERM
TimeoutStopSec=120
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
`;
}

function writeAtomic(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Regenerates the derived files under `root`; returns the paths written or removed, relative to `root`. */
export function generate(root) {
  const agents = readAgents(root);
  const touched = [];
  const pkgPath = join(root, 'package.json');
  const pkgText = readFileSync(pkgPath, 'utf8');
  const pkg = JSON.parse(pkgText);
  pkg.bin = binEntries(agents);
  const newPkg = `${JSON.stringify(pkg, null, 2)}\n`;
  if (newPkg !== pkgText) {
    writeAtomic(pkgPath, newPkg);
    touched.push('package.json');
  }

  const unitDir = join(root, 'deploy/systemd');
  mkdirSync(unitDir, { recursive: true });
  const wanted = new Map(agents.map((a) => [`pp-${a.name}.service`, systemdUnit(a)]));
  for (const [file, text] of wanted) {
    let old;
    try {
      old = readFileSync(join(unitDir, file), 'utf8');
    } catch {
      old = undefined;
    }
    if (old !== text) {
      writeAtomic(join(unitDir, file), text);
      touched.push(`deploy/systemd/${file}`);
    }
  }
  // A unit of an agent no longer listed would start a program that is no longer built.
  for (const file of readdirSync(unitDir)) {
    if (/^pp-.*\.service$/.test(file) && !wanted.has(file)) {
      rmSync(join(unitDir, file));
      touched.push(`deploy/systemd/${file} (removed)`);
    }
  }
  return touched;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const touched = generate(resolve(import.meta.dirname, '..'));
    process.stdout.write(touched.length ? touched.map((t) => `generated ${t}\n`).join('') : 'generated files are up to date\n');
  } catch (err) {
    process.stderr.write(`generate: ${err.message}\n`);
    process.exit(1);
  }
}
