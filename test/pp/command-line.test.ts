import { describe, expect, it } from 'vitest';
import { parsePpArgs } from '../../pp/command-line.js';
import { agentNames } from '../../shared/agent-list.js';

const run = (...argv: string[]) => {
  const inv = parsePpArgs(argv);
  if (inv.kind !== 'run') throw new Error(`expected a command, got ${JSON.stringify(inv)}`);
  return { path: inv.command.path, args: inv.args, rest: inv.rest };
};
const usage = (...argv: string[]) => {
  const inv = parsePpArgs(argv);
  if (inv.kind !== 'usage') throw new Error(`expected a usage error, got ${inv.kind}`);
  return `${inv.message} | ${inv.helpCommand}`;
};
// pp plan accepts every agent of agents/agents.json, by name or program name.
const agentChoices = [...agentNames(), ...agentNames().map((a) => `pp-${a}`)].join(', ');
const help = (...argv: string[]) => {
  const inv = parsePpArgs(argv);
  if (inv.kind !== 'help') throw new Error(`expected help, got ${inv.kind}`);
  return inv.text;
};

describe('pp command line', () => {
  it('names positionals and takes global flags before or after the command words', () => {
    expect(run('--store', 'folder:/s', 'intent', 'put', 'web1,web2', 'hello', '-f', 'x.json')).toMatchObject({
      path: 'intent put', args: { store: 'folder:/s', node: 'web1,web2', app: 'hello', file: 'x.json' },
    });
    expect(run('intent', 'get', 'n1', 'a', '--prefix=p').args).toMatchObject({ prefix: 'p', node: 'n1', app: 'a' });
    expect(run('intent', 'ls').args.node).toBeUndefined();
    expect(run('status', 'n1', '--json').args).toMatchObject({ node: 'n1', json: true });
    expect(run('validate', 'spec.json').args).toMatchObject({ file: 'spec.json', app: 'app' });
  });

  it('passes everything pp plan does not know through to the agent, in order', () => {
    const plan = run('plan', 'setlive', '--node', 'n1', '--service-dir', '/sv', '--once', '--stage-dir=/st');
    expect(plan.args).toMatchObject({ agent: 'setlive', node: 'n1', json: false });
    expect(plan.rest).toEqual(['--service-dir', '/sv', '--once', '--stage-dir=/st']);
    const before = run('plan', '--log-level', 'debug', 'pp-setlive', '--keep', '1');
    expect(before.args).toMatchObject({ agent: 'pp-setlive' });
    expect(before.rest).toEqual(['--log-level', 'debug', '--keep', '1']);
    expect(usage('plan', '--log-level', 'debug', 'nosuch')).toBe(`plan: expected <agent>, one of ${agentChoices}; got "debug", "nosuch" | pp plan`);
  });

  it('explains a missing or unknown command, a missing or extra positional, and an unknown flag', () => {
    expect(usage()).toBe('missing the command: one of intent, validate, status, plan | pp');
    expect(usage('intent')).toBe('missing the intent subcommand: one of put, get, ls, rm, drain, diff | pp intent');
    expect(usage('deploy')).toBe('unknown command "deploy": expected one of intent, validate, status, plan | pp');
    expect(usage('intent', 'move')).toMatch(/^unknown intent subcommand "move".* \| pp intent$/);
    expect(usage('intent', 'put', 'n1')).toBe('intent put: missing <app> | pp intent put');
    expect(usage('intent', 'drain', 'n1', 'n2')).toBe('intent drain: unexpected argument "n2" | pp intent drain');
    expect(usage('intent', 'get', 'n1', 'a', '--file', 'x')).toBe('unknown flag --file | pp intent get');
    expect(usage('plan')).toBe(`plan: expected <agent>, one of ${agentChoices} | pp plan`);
  });

  it('prints help for the whole CLI, a group and a command', () => {
    expect(help('--help')).toMatch(/^Usage: pp <command> \[options\][^]*pp intent put <node> <app>[^]*pp plan <agent>[^]*--store VALUE[^]*Exit codes: /);
    expect(help('intent', '-h')).not.toContain('pp validate');
    const put = help('intent', 'put', '--help');
    expect(put).toMatch(/^Usage: pp intent put <node> <app> \[options\]/);
    expect(put).toMatch(/-f, --file VALUE +spec JSON file/);
    expect(put).toMatch(/--prefix VALUE .*\[default: /);
  });
});
