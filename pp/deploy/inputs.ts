import { readFile } from 'node:fs/promises';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import type { IntentStore } from '../../shared/store/types.js';
import { CliError, readStdin } from '../read-spec.js';
import { deploySpec, nodesWithApp, parseNodes } from './analyze.js';

/** What `pp deploy`, `resume`, `follow` and `rollback` are asked to do, from their flags (commands.ts). */
export interface DeployOptions {
  app: string;
  /** The spec's file, or `-`: stdin. */
  file?: string;
  /** `a,b`, or `-`: one name a line on stdin. */
  nodes?: string;
  all: boolean;
  yes: boolean;
  dryRun: boolean;
  autoRevert: boolean;
  continueOnError: boolean;
  timeout: number;
  json: boolean;
  silentAfter: number;
  lockTtl: number;
  /** --sign-key: every value written is a signed envelope (shared/trust/envelope.ts). */
  signKey?: string;
  /** --force: write sections that agents of a node may not understand (pp/understood.ts). */
  force: boolean;
}

/** Refuses flag values no deploy can run with (exit 2), before anything is read. */
export function checkOptions(o: DeployOptions): void {
  if (!(o.lockTtl >= 10 && o.lockTtl <= 86400))
    throw new CliError(`--lock-ttl: expected 10..86400 seconds, got ${o.lockTtl}`, DEPLOY_EXIT.usage);
  if (!(o.timeout > 0)) throw new CliError(`--timeout: expected a positive number of seconds, got ${o.timeout}`, DEPLOY_EXIT.usage);
  if (o.autoRevert && o.continueOnError) throw new CliError('--auto-revert and --continue-on-error exclude each other', DEPLOY_EXIT.usage);
}

/** The spec of `--file`: a file, or stdin for `-` (as `pp intent put --file -` reads it); checked, one version live. */
export async function readDeploySpec(o: Pick<DeployOptions, 'app' | 'file' | 'nodes'>): Promise<ReturnType<typeof deploySpec>> {
  if (!o.file) throw new CliError('pp deploy needs the spec: --file spec.json, or --file - to read it from stdin', DEPLOY_EXIT.usage);
  if (o.file === '-') {
    if (o.nodes === '-')
      throw new CliError('--file - and --nodes - both read stdin: give the nodes with --nodes a,b or --all', DEPLOY_EXIT.usage);
    return deploySpec(o.app, 'stdin', await readStdin('--file - reads the spec from stdin: pipe it in'));
  }
  const text = await readFile(o.file, 'utf8').catch((err: Error) => {
    throw new CliError(`cannot read ${o.file}: ${err.message}`, DEPLOY_EXIT.usage);
  });
  return deploySpec(o.app, `file ${o.file}`, text);
}

/** The target nodes: exactly one of `--nodes a,b`, `--nodes -` (stdin, one a line) or `--all` (every node holding the app). */
export async function targetNodes(store: IntentStore, prefix: string, o: Pick<DeployOptions, 'app' | 'nodes' | 'all'>): Promise<string[]> {
  const given = [o.nodes !== undefined, o.all].filter(Boolean).length;
  if (given !== 1)
    throw new CliError('name the target nodes with exactly one of --nodes a,b, --nodes - (stdin) or --all', DEPLOY_EXIT.usage);
  const nodes = o.all
    ? await nodesWithApp(store, prefix, o.app)
    : o.nodes === '-'
      ? parseNodes(await readStdin('--nodes - reads node names from stdin, one per line: pipe them in'), /\r?\n/)
      : parseNodes(o.nodes!, /,/);
  if (nodes.length === 0)
    throw new CliError(o.all ? `no node's intent holds ${o.app}: --all found no node` : 'no node given', DEPLOY_EXIT.usage);
  return nodes;
}
