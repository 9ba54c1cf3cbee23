import { parseFlags, UsageError, type FlagSpecs } from '../shared/cli/flags.js';
import { formatHelp, formatRows } from '../shared/cli/help-text.js';
import { GLOBAL_FLAGS, type PpCommand } from './command-def.js';
import { COMMANDS } from './commands.js';

/** What the command line asks for: help text to print, a usage error, or a command with its arguments. */
export type PpInvocation =
  | { kind: 'help'; text: string }
  | { kind: 'usage'; message: string; helpCommand: string }
  | { kind: 'run'; command: PpCommand; args: Record<string, unknown>; rest: string[] };

const ABOUT = 'The Platypus operator CLI: write, read, validate and diff intent; fleet status; agent plans.';
const EPILOGUE = 'pp --version prints the version.\nExit codes: 0 ok, 1 store or agent failure, 2 invalid input or usage, 4 not found, 5 diff found differences.';
const ALL_FLAGS: FlagSpecs = Object.assign({}, GLOBAL_FLAGS, ...COMMANDS.map((c) => c.flags));

const usageOf = (c: PpCommand): string => [c.path, ...c.args.map((a) => (a.startsWith('[') ? a : `<${a}>`))].join(' ');
const isWord = (arg: string): boolean => arg === '-' || !arg.startsWith('-');

/** The --help page of the whole CLI (`group` undefined), of one command group (intent), or of one command. */
export function ppHelp(group?: string, command?: PpCommand): string {
  if (command) {
    const extra = command.passThrough ? ' [agent flags…]' : '';
    return formatHelp({ usage: `pp ${usageOf(command)} [options]${extra}`, about: command.describe, flags: { ...GLOBAL_FLAGS, ...command.flags }, epilogue: EPILOGUE });
  }
  const listed = COMMANDS.filter((c) => !group || c.path.startsWith(`${group} `));
  return formatHelp({
    usage: `pp ${group ? `${group} ` : ''}<command> [options]`, about: ABOUT, flags: GLOBAL_FLAGS, epilogue: EPILOGUE,
    sections: [['Commands', formatRows(listed.map((c) => [`pp ${usageOf(c)}`, c.describe] as const))]],
  });
}

/** The command names at the top level, or within `group`. */
function subcommands(group?: string): string[] {
  const words = COMMANDS.map((c) => c.path.split(' ')).filter((w) => !group || w[0] === group).map((w) => w[group ? 1 : 0]!);
  return [...new Set(words)];
}

/** The command named by the leading words, or the group word when a subcommand is missing; throws UsageError. */
function findCommand(words: string[]): { group?: string; command?: PpCommand } {
  const [first, second] = words;
  if (first === undefined) return {};
  const inGroup = COMMANDS.filter((c) => c.path.split(' ')[0] === first);
  if (inGroup.length === 0) throw new UsageError(`unknown command ${JSON.stringify(first)}: expected one of ${subcommands().join(', ')}`);
  const single = inGroup.find((c) => c.path === first);
  if (single) return { command: single };
  const command = inGroup.find((c) => c.path === `${first} ${second}`);
  if (second !== undefined && !command) throw new UsageError(`unknown ${first} subcommand ${JSON.stringify(second)}: expected one of ${subcommands(first).join(', ')}`);
  return command ? { group: first, command } : { group: first };
}

/** Where a pass-through command's positional is in `rest`: the first of its choices; throws UsageError when none is there. */
function passThroughPositional(command: PpCommand, name: string, rest: string[]): number {
  if (!command.choices) return rest.findIndex(isWord);
  const at = rest.findIndex((w) => isWord(w) && command.choices!.includes(w));
  if (at < 0) throw new UsageError(`${command.path}: expected <${name}>, one of ${command.choices.join(', ')}${rest.some(isWord) ? `; got ${rest.filter(isWord).map((w) => JSON.stringify(w)).join(', ')}` : ''}`);
  return at;
}

/** Names the command's positionals from `rest` (command words already removed); throws UsageError when some are missing or left over. */
function namePositionals(command: PpCommand, rest: string[]): Record<string, string | undefined> {
  const named: Record<string, string | undefined> = {};
  for (const arg of command.args) {
    const name = arg.replace(/^\[(.*)\]$/, '$1');
    const at = command.passThrough ? passThroughPositional(command, name, rest) : rest.length > 0 ? 0 : -1;
    if (at < 0 && name === arg) throw new UsageError(`${command.path}: missing <${name}>`);
    named[name] = at < 0 ? undefined : rest.splice(at, 1)[0];
  }
  if (!command.passThrough && rest.length > 0) throw new UsageError(`${command.path}: unexpected argument ${JSON.stringify(rest[0])}`);
  return named;
}

function invocation(argv: readonly string[], help: boolean, found: { group?: string; command?: PpCommand }): PpInvocation {
  const { group, command } = found;
  if (help) return { kind: 'help', text: ppHelp(group, command) };
  if (!command) throw new UsageError(`missing the ${group ? `${group} subcommand` : 'command'}: one of ${subcommands(group).join(', ')}`);
  const parsed = parseFlags({ ...GLOBAL_FLAGS, ...command.flags }, argv, { passUnknown: command.passThrough === true });
  const rest = [...parsed.rest];
  for (const word of command.path.split(' ')) rest.splice(rest.indexOf(word), 1);
  return { kind: 'run', command, args: { ...parsed.values, ...namePositionals(command, rest) }, rest };
}

/** Parses pp's argv: global flags anywhere, command words, the command's flags and positionals. */
export function parsePpArgs(argv: readonly string[]): PpInvocation {
  let helpCommand = 'pp';
  try {
    // First pass with every command's flags: enough to tell the command words from flag values.
    const first = parseFlags(ALL_FLAGS, argv, { passUnknown: true });
    const words = first.rest.filter(isWord);
    if (COMMANDS.some((c) => c.path.startsWith(`${words[0]} `))) helpCommand = `pp ${words[0]}`;
    const found = findCommand(words);
    helpCommand = ['pp', found.command?.path ?? found.group].filter(Boolean).join(' ');
    return invocation(argv, first.help, found);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { kind: 'usage', message: err.message, helpCommand };
  }
}
