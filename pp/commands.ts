import { hostname } from 'node:os';
import { agentNames, everyNodeAgents } from '../shared/agent-list.js';
import { NAGIOS_EXIT, PP_EXIT } from '../shared/exit-codes.js';
import { appIntentKey } from '../shared/keys.js';
import { defineCommand, withStore, type PpCommand } from './command-def.js';
import { DEPLOY_COMMANDS } from './deploy/commands.js';
import { diffIntent } from './diff.js';
import { drainNodes, getIntent, listIntent, putIntent, removeIntent } from './intent-commands.js';
import { runPlan } from './plan-command.js';
import { checkedSpec, readSpecText } from './read-spec.js';
import { clearVerdicts, listVerdicts, rolloutRelease, rolloutStatus, verdictLines } from './rollout-commands.js';
import { evaluateCheck, parseDuration } from './check.js';
import { readFleet } from './fleet-view.js';
import { openStore } from '../shared/store/open-store.js';
import { readStoredValue, specJsonOf } from '../shared/trust/envelope.js';
import { collectStatus, renderStatus } from './status.js';
import { SIGN_KEY, signWith } from './signing.js';
import { FORCE } from './understood.js';

const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

const FILE = { file: { type: 'string', short: 'f', describe: 'spec JSON file (default: stdin)' } } as const;
const INTENT_COMMANDS = [
  defineCommand({
    path: 'intent put',
    args: ['node', 'app'],
    flags: { ...FILE, ...SIGN_KEY, ...FORCE },
    describe: 'validate a spec and write it for one or more nodes (comma-separated)',
    run: withStore(async (store, a) => {
      const keys = await putIntent(store, a.prefix, a.node, a.app, await readSpecText(a.file), signWith(a['sign-key']), a.force);
      out(keys.map((k) => `wrote ${k}`).join('\n'));
    }),
  }),
  defineCommand({
    path: 'intent get',
    args: ['node', 'app'],
    flags: {},
    describe: "print one app's intent",
    run: withStore(async (store, a) => out(await getIntent(store, a.prefix, a.node, a.app))),
  }),
  defineCommand({
    path: 'intent ls',
    args: ['[node]'],
    flags: {},
    describe: 'list nodes, or the apps of a node',
    run: withStore(async (store, a) => out((await listIntent(store, a.prefix, a.node)).join('\n'))),
  }),
  defineCommand({
    path: 'intent rm',
    args: ['node', 'app'],
    flags: SIGN_KEY,
    describe: 'remove an app from nodes (the last app marks the node drained)',
    run: withStore(async (store, a) => {
      await removeIntent(store, a.prefix, a.node, a.app, signWith(a['sign-key']));
      out(`removed ${a.app} from ${a.node}`);
    }),
  }),
  defineCommand({
    path: 'intent drain',
    args: ['node'],
    flags: SIGN_KEY,
    describe: 'remove every app from nodes, explicitly: agents then stop and remove them',
    run: withStore(async (store, a) =>
      out(`drained ${a.node}: ${await drainNodes(store, a.prefix, a.node, signWith(a['sign-key']))} app intents removed`),
    ),
  }),
  defineCommand({
    path: 'intent diff',
    args: ['node', 'app'],
    flags: FILE,
    describe: 'show how a spec differs from the stored intent (exit 0 same, 5 different)',
    run: withStore(async (store, a) => {
      const key = appIntentKey(a.prefix, a.node, a.app);
      const stored = await store.get(key);
      const diff = diffIntent(
        stored === undefined ? undefined : specJsonOf(readStoredValue(stored)),
        checkedSpec(`key ${key}`, a.app, await readSpecText(a.file)),
      );
      out(diff || 'no difference');
      return diff ? PP_EXIT.differs : PP_EXIT.ok;
    }),
  }),
];

const ROLLOUT_COMMANDS = [
  defineCommand({
    path: 'rollout status',
    args: ['app'],
    flags: {},
    describe: "who holds the app's rollout slots, who waits, and the limit the lock records",
    run: withStore(async (store, a) => out(await rolloutStatus(store, a.prefix, a.app))),
  }),
  defineCommand({
    path: 'rollout release',
    args: ['app', 'node'],
    flags: {},
    describe: "free a node's stuck rollout slot (its agent is gone and its session not yet expired)",
    run: withStore(async (store, a) => out(await rolloutRelease(store, a.prefix, a.app, a.node))),
  }),
  defineCommand({
    path: 'verdict ls',
    args: ['[app]'],
    flags: {},
    describe: 'list the versions that failed their health check, per node',
    run: withStore(async (store, a) => out(await listVerdicts(store, a.prefix, a.app))),
  }),
  defineCommand({
    path: 'verdict clear',
    args: ['app', 'version'],
    flags: {},
    describe: 'lift the verdicts on a version, so nodes try it again',
    run: withStore(async (store, a) =>
      out(`cleared ${await clearVerdicts(store, a.prefix, a.app, a.version)} verdicts on ${a.app} ${a.version}`),
    ),
  }),
];

/** Every pp command; the first word of a path with several commands (intent) is a command group. */
export const COMMANDS: readonly PpCommand[] = [
  ...INTENT_COMMANDS,
  ...ROLLOUT_COMMANDS,
  ...DEPLOY_COMMANDS,
  defineCommand({
    path: 'validate',
    args: ['file'],
    describe: 'validate a spec file without writing it',
    flags: { app: { type: 'string', default: 'app', describe: 'app name the spec is checked for' } },
    run: async (a) => {
      checkedSpec(`file ${a.file}`, a.app, await readSpecText(a.file));
      out(`${a.file}: valid`);
    },
  }),
  defineCommand({
    path: 'status',
    args: ['[node]'],
    describe: "intent beside each agent's reality, per app",
    flags: { json: { type: 'boolean', default: false, describe: 'print the rows as JSON' } },
    run: withStore(async (store, a) => {
      const rows = await collectStatus(store, a.prefix, a.node);
      if (a.json) return out(JSON.stringify(rows, null, 2));
      const verdicts = await verdictLines(store, a.prefix, [...new Set(rows.map((r) => r.app))]);
      out(`${rows.length ? renderStatus(rows) : 'no intent and no reality under this prefix\n'}${verdicts}`);
    }),
  }),
  defineCommand({
    path: 'check',
    args: ['[nodes...]'],
    describe: 'monitoring plugin (Nagios): exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, one line with perfdata',
    flags: {
      'max-age': {
        type: 'string',
        default: '15m',
        describe: "an agent whose heartbeat is older than this is silent (critical); 3 of the agents' 5-minute heartbeats",
      },
      pending: { type: 'string', default: '30m', describe: 'an app pending for longer than this is a warning' },
      agents: {
        type: 'string',
        describe: 'comma-separated agents every node with intent must run (default: the agents agents.json marks everyNode)',
      },
    },
    // Nagios: a problem of the check itself (usage, store) is UNKNOWN, never CRITICAL, and its one line is on stdout.
    usageError: (text) => ({
      code: NAGIOS_EXIT.unknown,
      stdout: `PLATYPUS UNKNOWN - usage: ${text.split('\n')[0]!.replace(/^pp: /, '')}\n`,
    }),
    run: async (a) => {
      let line: string;
      let code: number;
      try {
        const options = {
          maxAgeSeconds: parseDuration('--max-age', a['max-age']),
          pendingSeconds: parseDuration('--pending', a.pending),
          agents: a.agents ? a.agents.split(',').filter(Boolean) : everyNodeAgents(),
          named: a.nodes ?? [],
        };
        const store = await openStore(a.store);
        try {
          ({ code, line } = evaluateCheck(await readFleet(store, a.prefix, options.named), options));
        } finally {
          await store.close();
        }
      } catch (err) {
        code = NAGIOS_EXIT.unknown;
        line = `PLATYPUS UNKNOWN - ${(err as Error).message.replace(/\s+/g, ' ').replace(/\|/g, '/')}`;
      }
      out(line);
      return code;
    },
  }),
  defineCommand({
    path: 'schema',
    args: [],
    flags: {},
    describe: 'print the JSON Schema of app intent, for editors and CI (a copy is schema/intent.schema.json)',
    run: async () => {
      // Loaded here only: the JSON Schema converter is needed by this command alone.
      const { intentJsonSchemaText } = await import('../shared/intent/json-schema.js');
      out(intentJsonSchemaText());
    },
  }),
  defineCommand({
    path: 'plan',
    args: ['agent'],
    passThrough: true,
    choices: [...agentNames(), ...agentNames().map((a) => `pp-${a}`)],
    describe: 'print what an agent would do on this host now (runs it with --dry-run; other flags go to the agent)',
    flags: {
      node: {
        type: 'string',
        default: process.env.PLATYPUS_NODE ?? hostname(),
        describe: 'node whose intent is planned (env PLATYPUS_NODE)',
      },
      json: { type: 'boolean', default: false, describe: 'print the plan as JSON' },
    },
    run: async (a, rest) => {
      const pass = [
        '--node',
        a.node,
        '--prefix',
        a.prefix,
        ...(a.store ? ['--store', a.store] : []),
        ...(a.json ? ['--json'] : []),
        ...rest,
      ];
      return runPlan(a.agent, pass);
    },
  }),
];
