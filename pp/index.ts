#!/usr/bin/env node
import { platypusVersion, wantsVersion } from '../shared/cli/version.js';
import { parsePpArgs } from './command-line.js';
import { CliError } from './read-spec.js';

const EXIT_USAGE = 2;
if (wantsVersion(process.argv.slice(2))) {
  process.stdout.write(`pp ${platypusVersion()}\n`);
  process.exit(0);
}
const invocation = parsePpArgs(process.argv.slice(2));

if (invocation.kind === 'help') {
  process.stdout.write(invocation.text);
  process.exit(0);
}
if (invocation.kind === 'usage') {
  process.stderr.write(`pp: ${invocation.message}\nRun ${invocation.helpCommand} --help for usage.\n`);
  process.exit(EXIT_USAGE);
}

try {
  process.exit((await invocation.command.run(invocation.args, invocation.rest)) ?? 0);
} catch (err) {
  process.stderr.write(`pp: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
