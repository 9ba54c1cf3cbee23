#!/usr/bin/env node
import { hostname } from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { appIntentKey, DEFAULT_PREFIX } from '../../shared/keys.js';
import { openStore } from '../../shared/store/open-store.js';
import type { IntentStore } from '../../shared/store/types.js';
import { diffIntent } from './diff.js';
import { drainNodes, getIntent, listIntent, putIntent, removeIntent } from './intent-commands.js';
import { runPlan } from './plan-command.js';
import { checkedSpec, CliError, readSpecText } from './read-spec.js';
import { collectStatus, renderStatus } from './status.js';

type Args = { store?: string; prefix: string; [k: string]: unknown };
let exitCode = 0;

/** Opens the store for one command, runs it, closes the store, and maps errors to exit codes. */
function withStore(fn: (store: IntentStore, args: Args) => Promise<void>) {
  return async (args: Args) => {
    const store = await openStore(args.store);
    try {
      await fn(store, args);
    } finally {
      await store.close();
    }
  };
}

const out = (text: string): void => { process.stdout.write(text.endsWith("\n") ? text : `${text}\n`); };

const parser = yargs(hideBin(process.argv))
  .scriptName('pp')
  .usage('$0 <command>\n\nThe Platypus operator CLI: write, read, validate and diff intent; fleet status; agent plans.')
  .option('store', { type: 'string', global: true, describe: 'folder:PATH | consul://HOST:PORT[,…] | consul+https://… (env PLATYPUS_STORE; default the embedded folder store)' })
  .option('prefix', { type: 'string', global: true, default: process.env.PLATYPUS_PREFIX ?? DEFAULT_PREFIX, describe: 'root of every Platypus key' })
  .command('intent', 'write and read intent', (y) => y
    .command('put <node> <app>', 'validate a spec and write it for one or more nodes (comma-separated)', (c) => c
      .positional('node', { type: 'string', demandOption: true }).positional('app', { type: 'string', demandOption: true })
      .option('file', { alias: 'f', type: 'string', describe: 'spec JSON file (default: stdin)' }),
    withStore(async (store, a) => {
      const keys = await putIntent(store, a.prefix, a.node as string, a.app as string, await readSpecText(a.file as string | undefined));
      out(keys.map((k) => `wrote ${k}`).join('\n'));
    }))
    .command('get <node> <app>', 'print one app\'s intent', (c) => c.positional('node', { type: 'string', demandOption: true }).positional('app', { type: 'string', demandOption: true }),
      withStore(async (store, a) => out(await getIntent(store, a.prefix, a.node as string, a.app as string))))
    .command('ls [node]', 'list nodes, or the apps of a node', (c) => c.positional('node', { type: 'string' }),
      withStore(async (store, a) => out((await listIntent(store, a.prefix, a.node as string | undefined)).join('\n'))))
    .command('rm <node> <app>', 'remove an app from nodes (the last app marks the node drained)', (c) => c.positional('node', { type: 'string', demandOption: true }).positional('app', { type: 'string', demandOption: true }),
      withStore(async (store, a) => { await removeIntent(store, a.prefix, a.node as string, a.app as string); out(`removed ${a.app} from ${a.node}`); }))
    .command('drain <node>', 'remove every app from nodes, explicitly: agents then stop and remove them', (c) => c.positional('node', { type: 'string', demandOption: true }),
      withStore(async (store, a) => out(`drained ${a.node}: ${await drainNodes(store, a.prefix, a.node as string)} app intents removed`)))
    .command('diff <node> <app>', 'show how a spec differs from the stored intent (exit 0 same, 5 different)', (c) => c
      .positional('node', { type: 'string', demandOption: true }).positional('app', { type: 'string', demandOption: true })
      .option('file', { alias: 'f', type: 'string', describe: 'spec JSON file (default: stdin)' }),
    withStore(async (store, a) => {
      const key = appIntentKey(a.prefix, a.node as string, a.app as string);
      const diff = diffIntent(await store.get(key), checkedSpec(`key ${key}`, a.app as string, await readSpecText(a.file as string | undefined)));
      out(diff || 'no difference');
      if (diff) exitCode = 5;
    }))
    .demandCommand(1, 'name an intent subcommand'))
  .command('validate <file>', 'validate a spec file without writing it', (c) => c.positional('file', { type: 'string', demandOption: true }).option('app', { type: 'string', default: 'app' }),
    async (a) => { checkedSpec(`file ${a.file}`, a.app, await readSpecText(a.file)); out(`${a.file}: valid`); })
  .command('status [node]', 'intent beside each agent\'s reality, per app', (c) => c.positional('node', { type: 'string' }).option('json', { type: 'boolean', default: false }),
    withStore(async (store, a) => {
      const rows = await collectStatus(store, a.prefix, a.node as string | undefined);
      out(a.json ? JSON.stringify(rows, null, 2) : rows.length ? renderStatus(rows) : 'no intent and no reality under this prefix');
    }))
  .command('plan <agent>', 'print what an agent would do on this host now (runs it with --dry-run)', (c) => c
    .positional('agent', { type: 'string', demandOption: true, describe: 'preparer | iptables | setlive' })
    .option('node', { type: 'string', default: process.env.PLATYPUS_NODE ?? hostname() }).option('json', { type: 'boolean', default: false })
    .parserConfiguration({ 'unknown-options-as-args': true }),
  async (a) => {
    const pass = ['--node', a.node, '--prefix', a.prefix, ...(a.store ? ['--store', a.store] : []), ...(a.json ? ['--json'] : []), ...a._.slice(1).map(String)];
    exitCode = await runPlan(a.agent, pass);
  })
  .demandCommand(1, 'name a command')
  .epilogue('Exit codes: 0 ok, 1 store or agent failure, 2 invalid input or usage, 4 not found, 5 diff found differences.')
  .strict()
  .help()
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`${y.help() && ''}${msg}\nRun pp --help for usage.\n`);
    process.exit(2);
  });

try {
  await parser.parseAsync();
  process.exit(exitCode);
} catch (err) {
  process.stderr.write(`pp: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
