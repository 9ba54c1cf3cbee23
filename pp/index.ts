#!/usr/bin/env node
import { PP_EXIT } from '../shared/exit-codes.js';
import { parsePpArgs } from './command-line.js';
import { CliError } from './read-spec.js';

const invocation = parsePpArgs(process.argv.slice(2));

if (invocation.kind === 'help') {
  process.stdout.write(invocation.text);
  process.exit(PP_EXIT.ok);
}
if (invocation.kind === 'usage') {
  const usage = invocation.command?.usageError?.(invocation.text) ?? { code: PP_EXIT.usage };
  if (usage.stdout) process.stdout.write(usage.stdout);
  process.stderr.write(invocation.text);
  process.exit(usage.code);
}

try {
  process.exit((await invocation.command.run(invocation.args, invocation.rest)) ?? PP_EXIT.ok);
} catch (err) {
  process.stderr.write(`pp: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : PP_EXIT.failure);
}
