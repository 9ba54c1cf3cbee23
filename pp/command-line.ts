import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { FlagSpec, FlagSpecs } from '../shared/cli/flags.js';
import { platypusVersion } from '../shared/cli/version.js';
import { GLOBAL_FLAGS, type PpCommand } from './command-def.js';
import { COMMANDS } from './commands.js';

/**
 * pp's command line, parsed by commander from the command table (commands.ts): the shared flags are
 * defined once on the program (commander takes them before or after the command words), each command
 * has its own flags, positionals and --help.
 */

/**
 * What the command line asks for: text to print and leave with 0 (help, version), a usage error (of `command` when
 * it was one command's; see its usageError), or a command to run.
 */
export type PpInvocation =
  | { kind: 'help'; text: string }
  | { kind: 'usage'; text: string; command?: PpCommand }
  | { kind: 'run'; command: PpCommand; args: Record<string, unknown>; rest: string[] };

const ABOUT = "The Platypus operator CLI: write, read, validate and diff intent; fleet status; agent plans; the intent's JSON Schema.";
const EPILOGUE =
  "\nExit codes: 0 ok, 1 store or agent failure, 2 invalid input or usage, 4 not found, 5 diff found differences;\npp deploy: 3 a node's intent changed under it, 6 another deploy holds the lock, 7 the version failed, 8 --timeout, 9 lock lost, 10 not confirmed, 130 SIGINT or SIGTERM.";
const GROUPS: Readonly<Record<string, string>> = { intent: 'write, read, list, remove, drain and diff app intent' };

/** A flag of the command table as a commander option: `--name <name>` unless boolean, its default and choices. */
function toOption(name: string, spec: FlagSpec): Option {
  const flags = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'boolean' ? '' : ` <${name}>`}`;
  const option = new Option(flags, spec.describe);
  if (spec.default !== undefined && spec.type !== 'boolean') option.default(spec.default);
  if (spec.choices) option.choices(spec.choices);
  if (spec.type === 'number')
    option.argParser((text) => {
      const value = text.trim() === '' ? NaN : Number(text);
      if (!Number.isFinite(value)) throw new InvalidArgumentError('expected a number.');
      return value;
    });
  if (spec.hidden) option.hideHelp();
  return option;
}

/** The values of `flags` from commander's options, false for an absent boolean. */
function flagValues(flags: FlagSpecs, opts: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const value = opts[new Option(`--${name}`).attributeName()];
    values[name] = value === undefined && spec.type === 'boolean' ? false : value;
  }
  return values;
}

const wordsOf = (cmd: Command): string[] => (cmd.parent ? [...wordsOf(cmd.parent), cmd.name()] : []);
const isWord = (arg: string): boolean => arg === '-' || !arg.startsWith('-');

/** Leaf commands under `cmd`, so pp's help lists every command with its full words (intent put, not put). */
const leafCommands = (cmd: Command): Command[] =>
  cmd.commands.flatMap((c) => (c.commands.length ? [...(c.registeredArguments.length ? [c] : []), ...leafCommands(c)] : [c]));
const commandTerm = (cmd: Command): string =>
  [...wordsOf(cmd), ...cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`))].join(' ');

/**
 * A pass-through command's positional (pp plan's agent) is the first of its choices among the words, so the value of an
 * agent flag placed before it (`pp plan --log-level debug setlive`) is passed on rather than taken for the agent.
 */
function takePositional(cmd: Command, command: PpCommand, rest: string[]): Record<string, string> {
  const [arg] = command.args;
  const name = arg!.replace(/^\[(.*)\]$/, '$1');
  const at = rest.findIndex((w) => isWord(w) && (!command.choices || command.choices.includes(w)));
  if (at < 0) {
    const words = rest
      .filter(isWord)
      .map((w) => JSON.stringify(w))
      .join(', ');
    cmd.error(`error: expected <${name}>, one of ${command.choices?.join(', ')}${words ? `; got ${words}` : ''}`, {
      code: 'commander.invalidArgument',
    });
  }
  return { [name]: rest.splice(at, 1)[0]! };
}

/**
 * Flags given on the command line that commander handed to the parent command (`pp deploy` is a command and the group
 * of `pp deploy follow`): commander parses a parent's own flags wherever they stand, so `pp deploy follow hello
 * --timeout 1` sets deploy's --timeout, and follow's keeps its default.
 */
function givenToParent(cmd: Command): Record<string, unknown> {
  const parent = cmd.parent;
  if (!parent?.parent) return {};
  const given = parent.options.map((o) => o.attributeName()).filter((name) => parent.getOptionValueSource(name) === 'cli');
  return Object.fromEntries(given.map((name) => [name, parent.getOptionValue(name)]));
}

/** Commander's error, thrown for one pp command, so its own way of reporting usage errors can be found. */
class CommandError extends CommanderError {
  constructor(
    readonly command: PpCommand,
    error: CommanderError,
  ) {
    super(error.exitCode, error.code, error.message);
  }
}

/** Adds `command` under `parent`: its positionals, flags, help, and an action that hands the parsed values to `found`. */
function addCommand(parent: Command, command: PpCommand, found: (invocation: PpInvocation) => void): void {
  const words = command.path.split(' ');
  const cmd = parent
    .command(words.at(-1)!)
    .description(command.describe)
    .showHelpAfterError(`Run pp ${command.path} --help for usage.`)
    .exitOverride((error) => {
      throw new CommandError(command, error);
    });
  for (const arg of command.args)
    cmd.argument(arg.startsWith('[') ? arg : `<${arg}>`, command.choices ? `one of ${command.choices.join(', ')}` : undefined);
  for (const [name, spec] of Object.entries(command.flags)) cmd.addOption(toOption(name, spec));
  if (command.passThrough) {
    cmd
      .allowUnknownOption()
      .allowExcessArguments()
      .usage(`[options] ${command.args.map((a) => (a.startsWith('[') ? a : `<${a}>`)).join(' ')} [agent flags…]`);
  }
  cmd.addHelpText('after', EPILOGUE);
  cmd.action((...params: unknown[]) => {
    const opts = {
      ...flagValues(GLOBAL_FLAGS, cmd.optsWithGlobals()),
      ...flagValues(command.flags, { ...cmd.opts(), ...givenToParent(cmd) }),
    };
    if (command.passThrough) {
      const rest = [...cmd.args];
      found({ kind: 'run', command, args: { ...opts, ...takePositional(cmd, command, rest) }, rest });
      return;
    }
    const positionals = Object.fromEntries(
      command.args.map((a, i) => [a.replace(/^\[(.*)\]$/, '$1').replace(/\.\.\.$/, ''), params[i] as string | string[] | undefined]),
    );
    found({ kind: 'run', command, args: { ...opts, ...positionals }, rest: [] });
  });
}

/** The commander program for `commands`; `found` receives the command to run, output goes to `write`. */
export function ppProgram(found: (invocation: PpInvocation) => void, write: { out(text: string): void; err(text: string): void }): Command {
  const program = new Command('pp')
    .description(ABOUT)
    .version(`pp ${platypusVersion()}`, '--version', 'print the version and exit')
    .helpCommand(false)
    .configureHelp({ showGlobalOptions: true, visibleCommands: leafCommands, subcommandTerm: commandTerm })
    .configureOutput({ writeOut: write.out, writeErr: write.err, outputError: (text, to) => to(`pp: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError('Run pp --help for usage.')
    .exitOverride()
    .addHelpText('after', EPILOGUE);
  for (const [name, spec] of Object.entries(GLOBAL_FLAGS)) program.addOption(toOption(name, spec));
  const groups = new Map<string, Command>();
  for (const command of COMMANDS) {
    const words = command.path.split(' ');
    let parent = program;
    if (words.length > 1) {
      const group = words[0]!;
      // A command may also be a group (pp deploy <app>, pp deploy history <app>): its subcommands hang off it.
      const existing = program.commands.find((c) => c.name() === group);
      if (existing && !groups.has(group)) groups.set(group, existing);
      if (!groups.has(group)) {
        groups.set(
          group,
          program
            .command(group)
            .description(GROUPS[group] ?? '')
            .showHelpAfterError(`Run pp ${group} --help for usage.`)
            .addHelpText('after', EPILOGUE),
        );
      }
      parent = groups.get(group)!;
    }
    addCommand(parent, command, found);
  }
  return program;
}

/** Parses pp's argv; help, version and usage errors come back as the text to print. */
export function parsePpArgs(argv: readonly string[]): PpInvocation {
  let out = '';
  let err = '';
  let invocation: PpInvocation | undefined;
  const program = ppProgram(
    (found) => {
      invocation = found;
    },
    {
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
    },
  );
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return { kind: 'help', text: out };
    return error instanceof CommandError ? { kind: 'usage', text: err, command: error.command } : { kind: 'usage', text: err };
  }
  return invocation ?? { kind: 'usage', text: err };
}
