#!/usr/bin/env node
import { parsePpArgs } from './command-line.js';
import { CliError } from './read-spec.js';

const EXIT_USAGE = 2;
/** `pp check` is a Nagios plugin: its usage errors are UNKNOWN (3), never CRITICAL (2). */
const EXIT_CHECK_USAGE = 3;
const invocation = parsePpArgs(process.argv.slice(2));

if (invocation.kind === 'help') {
  process.stdout.write(invocation.text);
  process.exit(0);
}
if (invocation.kind === 'usage') {
  const check = invocation.text.includes('Run pp check --help');
  if (check) process.stdout.write(`PLATYPUS UNKNOWN - usage: ${invocation.text.split('\n')[0]!.replace(/^pp: /, '')}\n`);
  process.stderr.write(invocation.text);
  process.exit(check ? EXIT_CHECK_USAGE : EXIT_USAGE);
}

try {
  process.exit((await invocation.command.run(invocation.args, invocation.rest)) ?? 0);
} catch (err) {
  process.stderr.write(`pp: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
