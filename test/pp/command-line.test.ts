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
  return inv.text;
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
      path: 'intent put',
      args: { store: 'folder:/s', node: 'web1,web2', app: 'hello', file: 'x.json' },
    });
    expect(run('intent', 'get', 'n1', 'a', '--prefix=p').args).toMatchObject({ prefix: 'p', node: 'n1', app: 'a' });
    expect(run('intent', 'put', 'n1', 'a', '--file', 'x', '--prefix', 'p', '--store', 's').args).toMatchObject({
      prefix: 'p',
      store: 's',
      file: 'x',
    });
    expect(run('intent', 'ls').args.node).toBeUndefined();
    expect(run('intent', 'ls').args.prefix).toBe(process.env.PLATYPUS_PREFIX ?? 'platypus');
    expect(run('status', 'n1', '--json').args).toMatchObject({ node: 'n1', json: true });
    expect(run('status').args).toMatchObject({ json: false });
    expect(run('validate', 'spec.json').args).toMatchObject({ file: 'spec.json', app: 'app' });
    expect(run('schema').path).toBe('schema');
  });

  it('passes everything pp plan does not know through to the agent, in order', () => {
    const plan = run('plan', 'setlive', '--node', 'n1', '--service-dir', '/sv', '--once', '--stage-dir=/st');
    expect(plan.args).toMatchObject({ agent: 'setlive', node: 'n1', json: false });
    expect(plan.rest).toEqual(['--service-dir', '/sv', '--once', '--stage-dir=/st']);
    const before = run('plan', '--log-level', 'debug', 'pp-setlive', '--keep', '1', '--json', '--prefix', 'p');
    expect(before.args).toMatchObject({ agent: 'pp-setlive', json: true, prefix: 'p' });
    expect(before.rest).toEqual(['--log-level', 'debug', '--keep', '1']);
    expect(usage('plan', '--log-level', 'debug', 'nosuch')).toBe(
      `pp: expected <agent>, one of ${agentChoices}; got "debug", "nosuch"\nRun pp plan --help for usage.\n`,
    );
  });

  it('explains a missing or unknown command, a missing or extra positional, and an unknown flag', () => {
    expect(usage()).toMatch(/^Usage: pp \[options\] \[command\]\n[^]*intent put <node> <app>/);
    expect(usage('intent')).toMatch(/^Usage: pp intent \[options\] \[command\]\n[^]*intent diff <node> <app>/);
    expect(usage('intent')).not.toContain('validate <file>');
    expect(usage('launch')).toBe("pp: unknown command 'launch'\nRun pp --help for usage.\n");
    expect(usage('intent', 'pt')).toBe("pp: unknown command 'pt'\n(Did you mean put?)\nRun pp intent --help for usage.\n");
    expect(usage('intent', 'put', 'n1')).toBe("pp: missing required argument 'app'\nRun pp intent put --help for usage.\n");
    expect(usage('intent', 'drain', 'n1', 'n2')).toBe(
      "pp: too many arguments for 'drain'. Expected 1 argument but got 2.\nRun pp intent drain --help for usage.\n",
    );
    expect(usage('intent', 'get', 'n1', 'a', '--file', 'x')).toBe("pp: unknown option '--file'\nRun pp intent get --help for usage.\n");
    expect(usage('intent', 'ls', '--store')).toMatch(/^pp: option '--store <store>' argument missing\n/);
    expect(usage('plan')).toBe("pp: missing required argument 'agent'\nRun pp plan --help for usage.\n");
  });

  it('prints help for the whole CLI, a group and a command, and the version', () => {
    expect(help('--help')).toMatch(
      /^Usage: pp \[options\] \[command\][^]*--store <store>[^]*intent put <node> <app>[^]*schema[^]*plan <agent>[^]*Exit codes: /,
    );
    expect(help('intent', '-h')).not.toContain('validate <file>');
    const put = help('intent', 'put', '--help');
    expect(put).toMatch(/^Usage: pp intent put \[options\] <node> <app>\n/);
    expect(put).toMatch(/-f, --file <file> +spec JSON file/);
    // The description may wrap before its default: --sign-key <sign-key> widens the flag column.
    expect(put).toMatch(/Global Options:[^]*--prefix <prefix> +root of every Platypus key[^-]*\(default:/);
    expect(put).toMatch(/--sign-key <sign-key> +sign with this SSH key through ssh-keygen -Y sign/);
    expect(help('plan', '--help')).toMatch(/^Usage: pp plan \[options\] <agent> \[agent flags…\]\n[^]*one of preparer, iptables, setlive/);
    expect(help('--version')).toMatch(/^pp \d+\.\d+\.\d+\n$/);
  });
});
