#!/usr/bin/env node
import { parsePpArgs } from './command-line.js';
import { CliError } from './read-spec.js';

const EXIT_USAGE = 2;
const invocation = parsePpArgs(process.argv.slice(2));

if (invocation.kind === 'help') {
  process.stdout.write(invocation.text);
  process.exit(0);
}
if (invocation.kind === 'usage') {
  process.stderr.write(invocation.text);
  process.exit(EXIT_USAGE);
}

try {
  process.exit((await invocation.command.run(invocation.args, invocation.rest)) ?? 0);
} catch (err) {
  process.stderr.write(`pp: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
