import type { FlagSpec, FlagSpecs } from './flags.js';

// Past this width a label gets its description on the next line, so one long flag does not push every row right.
const MAX_LABEL = 34;

/** Two aligned columns (label, description), indented by two spaces. */
export function formatRows(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.min(MAX_LABEL, Math.max(0, ...rows.map(([label]) => label.length)));
  return rows
    .map(([label, text]) => {
      if (!text) return `  ${label}`;
      if (label.length > width) return `  ${label}\n  ${' '.repeat(width + 2)}${text}`;
      return `  ${label.padEnd(width)}  ${text}`;
    })
    .join('\n');
}

function flagLabel(name: string, spec: FlagSpec): string {
  const value = spec.type === 'boolean' ? '' : spec.type === 'number' ? ' N' : ' VALUE';
  return `${spec.short ? `-${spec.short}, ` : ''}--${name}${value}`;
}

function flagText(spec: FlagSpec): string {
  const parts = spec.describe ? [spec.describe] : [];
  if (spec.choices) parts.push(`[one of: ${spec.choices.join(', ')}]`);
  if (spec.default !== undefined)
    parts.push(`[default: ${typeof spec.default === 'string' ? JSON.stringify(spec.default) : spec.default}]`);
  return parts.join(' ');
}

/** The option rows of `specs` for --help: every flag not hidden, with its description, choices and default. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs)
    .filter(([, spec]) => !spec.hidden)
    .map(([name, spec]) => [flagLabel(name, spec), flagText(spec)] as const);
  return formatRows([...rows, ['-h, --help', 'print this help and exit']]);
}

export interface HelpPage {
  usage: string;
  about?: string;
  /** Extra sections before the options, e.g. ["Commands", rows]. */
  sections?: ReadonlyArray<readonly [string, string]>;
  flags: FlagSpecs;
  epilogue?: string;
}

/** A whole --help page: usage line, about text, sections, options, epilogue; ends with a newline. */
export function formatHelp(page: HelpPage): string {
  const blocks = [`Usage: ${page.usage}`];
  if (page.about) blocks.push(page.about);
  for (const [title, body] of page.sections ?? []) blocks.push(`${title}:\n${body}`);
  blocks.push(`Options:\n${formatFlags(page.flags)}`);
  if (page.epilogue) blocks.push(page.epilogue);
  return `${blocks.join('\n\n')}\n`;
}
