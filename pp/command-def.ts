import { defineFlags, type FlagSpecs, type FlagValues } from '../shared/cli/flags.js';
import { DEFAULT_PREFIX } from '../shared/keys.js';
import { openStore } from '../shared/store/open-store.js';
import type { IntentStore } from '../shared/store/types.js';

/** Flags every pp command takes, before or after the command words. */
export const GLOBAL_FLAGS = defineFlags({
  store: {
    type: 'string',
    describe: 'folder:PATH | consul://HOST:PORT[,…] | consul+https://… (env PLATYPUS_STORE; default the embedded folder store)',
  },
  prefix: {
    type: 'string',
    default: process.env.PLATYPUS_PREFIX ?? DEFAULT_PREFIX,
    describe: 'root of every Platypus key (env PLATYPUS_PREFIX)',
  },
});

type RequiredName<P> = P extends `[${string}]` ? never : P;
type OptionalName<P> = P extends `[${string}...]` ? never : P extends `[${infer N}]` ? N : never;
type ListName<P> = P extends `[${infer N}...]` ? N : never;

/** Positional values by name: 'node' is required, '[node]' optional, '[nodes...]' any number (last only). */
export type ArgValues<P extends readonly string[]> = { [K in RequiredName<P[number]>]: string } & {
  [K in OptionalName<P[number]>]?: string;
} & { [K in ListName<P[number]>]: string[] };

/** What a command's handler receives: global and command flags, and the positionals by name. */
export type CommandArgs<F extends FlagSpecs, P extends readonly string[]> = FlagValues<typeof GLOBAL_FLAGS & F> & ArgValues<P>;

/** One pp command as data; run resolves to the exit code (nothing means 0). */
export interface CommandDef<F extends FlagSpecs, P extends readonly string[]> {
  /** The command words, e.g. "intent put". */
  path: string;
  /** Positional names in order; "[name]" marks an optional one (only last ones may be optional). */
  args: P;
  describe: string;
  flags: F;
  /** Unknown flags and extra arguments are handed to run as `rest` instead of refused (pp plan). */
  passThrough?: boolean;
  /**
   * With passThrough: the words the (single) positional may be. The first such word is taken, so the value of an
   * agent flag placed before it (`pp plan --log-level debug setlive`) is passed on, not taken for the agent.
   */
  choices?: readonly string[];
  /**
   * How a usage error of this command is reported (commander's message in `text`), when not as every other
   * command's: exit 2 and the message on stderr only.
   */
  usageError?: (text: string) => { code: number; stdout?: string };
  run: (a: CommandArgs<F, P>, rest: string[]) => Promise<number | void>;
}

/** A command with its types erased, for the command table: run takes the parsed values by name. */
export interface PpCommand extends Omit<CommandDef<FlagSpecs, readonly string[]>, 'run'> {
  run: (a: Record<string, unknown>, rest: string[]) => Promise<number | void>;
}

/** Checks a command definition's types against its own flags and positionals, then erases them for the table. */
export function defineCommand<const F extends FlagSpecs, const P extends readonly string[]>(def: CommandDef<F, P>): PpCommand {
  return def as unknown as PpCommand;
}

/** Wraps a handler so it gets the store named by --store and closes it afterwards, whatever happens. */
export function withStore<A extends { store?: string | undefined }>(fn: (store: IntentStore, a: A) => Promise<number | void>) {
  return async (a: A): Promise<number | void> => {
    const store = await openStore(a.store);
    try {
      return await fn(store, a);
    } finally {
      await store.close();
    }
  };
}
