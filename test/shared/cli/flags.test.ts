import { describe, expect, it } from 'vitest';
import { agentHelp, commonAgentFlags, parseAgentFlags } from '../../../shared/cli/agent-flags.js';
import { defineFlags, parseFlags, UsageError } from '../../../shared/cli/flags.js';
import { formatHelp } from '../../../shared/cli/help-text.js';

const FLAGS = defineFlags({
  name: { type: 'string', default: 'web', describe: 'the name' },
  file: { type: 'string', short: 'f', describe: 'a file' },
  count: { type: 'number', default: 3, describe: 'how many' },
  limit: { type: 'number' },
  verbose: { type: 'boolean' },
  color: { type: 'string', choices: ['red', 'blue'], default: 'red' },
  secret: { type: 'number', hidden: true, describe: 'tests only' },
});

const parse = (...argv: string[]) => parseFlags(FLAGS, argv);
const problem = (...argv: string[]) => {
  try {
    parse(...argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

describe('parseFlags', () => {
  it('gives defaults, false for booleans and undefined for the rest when nothing is passed', () => {
    expect(parse().values).toEqual({
      name: 'web',
      file: undefined,
      count: 3,
      limit: undefined,
      verbose: false,
      color: 'red',
      secret: undefined,
    });
    expect(parse().help).toBe(false);
  });

  it('takes --flag value, --flag=value, -x value and --no-flag', () => {
    const { values } = parse('--name', 'api', '--count=7', '-f', 'spec.json', '--verbose', '--limit', '-1');
    expect(values).toMatchObject({ name: 'api', count: 7, file: 'spec.json', verbose: true, limit: -1 });
    expect(parse('--verbose', '--no-verbose').values.verbose).toBe(false);
    expect(parse('--verbose=false').values.verbose).toBe(false);
    expect(parse('--file', '-').values.file).toBe('-');
    expect(parse('--name=--odd').values.name).toBe('--odd');
  });

  it('converts numbers and names the flag when one is not a number', () => {
    expect(parse('--count', '2.5').values.count).toBe(2.5);
    expect(problem('--count', 'abc')).toBe('--count: expected a number, got "abc"');
    expect(problem('--count=')).toBe('--count: expected a number, got ""');
    expect(problem('--limit', 'Infinity')).toBe('--limit: expected a number, got "Infinity"');
  });

  it('checks choices', () => {
    expect(parse('--color', 'blue').values.color).toBe('blue');
    expect(problem('--color', 'green')).toBe('--color: expected one of red, blue, got "green"');
  });

  it('refuses unknown flags, missing values and values for booleans', () => {
    expect(problem('--bogus')).toBe('unknown flag --bogus');
    expect(problem('-x')).toBe('unknown flag -x');
    expect(problem('--name')).toBe('--name needs a value');
    expect(problem('--name', '--verbose')).toMatch(/^--name needs a value \(write --name=--verbose/);
    expect(problem('--verbose=yes')).toBe('--verbose takes no value, got "yes"');
  });

  it('returns positionals in rest, and with passUnknown the unknown flags too, in order', () => {
    expect(parse('a', '--count', '1', 'b', '--', '--c').rest).toEqual(['a', 'b', '--c']);
    expect(parseFlags(FLAGS, ['x', '--other', 'v', '--count', '2', '--k=1'], { passUnknown: true }).rest).toEqual([
      'x',
      '--other',
      'v',
      '--k=1',
    ]);
  });

  it('reports --help or -h instead of any other problem', () => {
    expect(parse('--help').help).toBe(true);
    expect(parse('--bogus', '-h', '--count', 'x').help).toBe(true);
  });
});

describe('help text', () => {
  const text = formatHelp({ usage: 'demo [options]', about: 'Does things.', flags: FLAGS, epilogue: 'Exit codes: 0 ok.' });

  it('lists every visible flag with its description, choices and default, and help itself', () => {
    expect(text.startsWith('Usage: demo [options]\n\nDoes things.\n\nOptions:\n')).toBe(true);
    expect(text).toMatch(/--name VALUE +the name \[default: "web"\]\n/);
    expect(text).toMatch(/-f, --file VALUE +a file\n/);
    expect(text).toMatch(/--count N +how many \[default: 3\]\n/);
    expect(text).toMatch(/--color VALUE +\[one of: red, blue\] \[default: "red"\]\n/);
    expect(text).toMatch(/-h, --help +print this help and exit\n/);
    expect(text).not.toContain('secret');
    expect(text.endsWith('\n\nExit codes: 0 ok.\n')).toBe(true);
  });

  it("shows an agent's shared and own flags with the defaults taken from the environment", () => {
    const help = agentHelp('pp-demo', FLAGS, { PLATYPUS_PREFIX: 'pfx', PLATYPUS_NODE: 'n9' });
    expect(help).toContain('Usage: pp-demo [options]');
    for (const flag of ['--store', '--once', '--dry-run', '--json', '--resync-seconds', '--wait-seconds', '--count'])
      expect(help).toContain(flag);
    expect(help).toMatch(/--prefix VALUE .*\[default: "pfx"\]/);
    expect(help).toMatch(/--node VALUE .*\[default: "n9"\]/);
  });
});

describe('agent flags', () => {
  const agent = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    parseAgentFlags(
      {
        flags: FLAGS,
        check: (a) => {
          if (a.count > 5) throw new Error(`--count ${a.count}: too many`);
        },
      },
      argv,
      env,
    );
  const refused = (argv: string[]) => expect(() => agent(argv)).toThrow(UsageError);

  it('takes the shared defaults from the environment', () => {
    const env = { PLATYPUS_PREFIX: 'pfx', PLATYPUS_NODE: 'n1', PLATYPUS_LOG_LEVEL: 'warn' };
    expect(agent([], env)).toMatchObject({
      prefix: 'pfx',
      node: 'n1',
      'log-level': 'warn',
      once: false,
      'resync-seconds': 60,
      'wait-seconds': 300,
      count: 3,
    });
    expect(agent(['--node', 'n2', '--prefix', 'p2'], env)).toMatchObject({ prefix: 'p2', node: 'n2' });
    expect(commonAgentFlags({}).prefix.default).toBe('platypus');
  });

  it("checks the shared ranges, the node name, the agent's own check and positionals", () => {
    refused(['--resync-seconds', '0']);
    refused(['--wait-seconds', '601']);
    refused(['--node', '..']);
    refused(['--log-level', 'loud']);
    expect(() => agent([], { PLATYPUS_LOG_LEVEL: 'loud' })).toThrow('got "loud" (its default)');
    expect(() => agent(['--count', '9'])).toThrow('--count 9: too many');
    expect(() => agent(['run'])).toThrow('unexpected argument "run": agents take flags only');
    expect(agent(['--wait-seconds=600', '--resync-seconds', '1', '--node', 'n1'])).toMatchObject({
      'wait-seconds': 600,
      'resync-seconds': 1,
    });
  });

  it('returns help for --help', () => {
    expect(agent(['--help', '--bogus'])).toBe('help');
  });
});
