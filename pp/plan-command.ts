import { PP_EXIT } from '../shared/exit-codes.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentNames } from '../shared/agent-list.js';
import { CliError } from './read-spec.js';

/** The agents `pp plan` can run: every one agents/agents.json lists. */
export const AGENTS: readonly string[] = agentNames();

/**
 * `pp plan <agent>`: runs that agent with --dry-run on this host (the plan needs the host's observed state),
 * passing the store, prefix and node along; returns the agent's exit code. Agents stay separate programs.
 */
export async function runPlan(agent: string, passThrough: string[]): Promise<number> {
  const name = agent.replace(/^pp-/, '');
  if (!AGENTS.includes(name)) throw new CliError(`unknown agent ${agent}: expected one of ${AGENTS.join(', ')}`, PP_EXIT.usage);
  const program = join(dirname(fileURLToPath(import.meta.url)), '..', 'agents', name, 'index.js');
  if (!existsSync(program)) throw new CliError(`agent program not found at ${program} (run npm run build)`, PP_EXIT.failure);
  const child = spawn(process.execPath, [program, '--dry-run', '--log-level', 'warn', ...passThrough], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? PP_EXIT.failure));
  });
}
