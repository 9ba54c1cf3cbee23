import { readFile } from 'node:fs/promises';
import { PP_EXIT } from '../shared/exit-codes.js';
import { validateAppIntent } from '../shared/intent/validate.js';

/** A CLI error with the exit code to leave with (PP_EXIT or DEPLOY_EXIT, shared/exit-codes.ts). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * All of stdin as text, for every command that reads it. A terminal on stdin means nothing was piped in, and
 * waiting for the operator to type would look like a hang: that is a usage error saying `whenTerminal`.
 */
export async function readStdin(whenTerminal: string): Promise<string> {
  if (process.stdin.isTTY) throw new CliError(whenTerminal, PP_EXIT.usage);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads an intent spec from a file, or from stdin when `file` is '-' or absent. */
export async function readSpecText(file: string | undefined): Promise<string> {
  if (file && file !== '-') {
    return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read ${file}: ${err.message}`, PP_EXIT.usage);
    });
  }
  return readStdin('no spec given: pass --file spec.json or pipe the JSON on stdin');
}

/** Validates spec text for `app` at `where` ("key K"/"file F"); throws a CliError (exit 2) naming it and the fields. */
export function checkedSpec(where: string, app: string, text: string): string {
  const result = validateAppIntent(where, app, text);
  if (!result.ok) throw new CliError(result.error, PP_EXIT.usage);
  return text.trim();
}
