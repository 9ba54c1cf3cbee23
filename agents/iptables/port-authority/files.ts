import { nameProblem } from '../../../shared/names.js';
import type { PortIntent } from '../../../shared/intent/schema.js';
import { comparePorts } from '../ports.js';

/** First line of every file we write: only files starting with it are ever removed by us. */
export const MANAGED_HEADER = '# managed by pp-iptables (Platypus); edits are overwritten';

/** Marker listing apps whose file changed since the last successful `<refresh> rebuild` (survives a crash). */
export const REFRESH_MARKER = '.pp-iptables-refresh-pending';

/** `<app>.yml` → app, or undefined for any other file name. */
export function appOfFile(name: string): string | undefined {
  if (!name.endsWith('.yml')) return undefined;
  const app = name.slice(0, -'.yml'.length);
  return nameProblem(app) ? undefined : app;
}

/** A port_authority entry name: `<app>_<port>_<proto>`. */
export function entryName(app: string, p: PortIntent): string {
  return `${app}_${p.port}_${p.protocol}`;
}

/** The YAML file for `app`: the header, then one `<app>_<port>_<proto>: {port: N, protocol: P}` per port. Pure. */
export function renderAppFile(app: string, ports: PortIntent[]): string {
  const entries = [...ports].sort(comparePorts).map((p) => `${entryName(app, p)}: {port: ${p.port}, protocol: ${p.protocol}}`);
  return `${[MANAGED_HEADER, ...entries].join('\n')}\n`;
}

const ENTRY = /^\s*[^\s:#][^:]*:\s*\{\s*port:\s*(\d+)\s*,\s*protocol:\s*(tcp|udp)\s*\}\s*$/;

/** Reads a file back: whether we wrote it, and the ports of the entries in our own one-line form. */
export function parseAppFile(content: string): { managed: boolean; ports: PortIntent[] } {
  const lines = content.split('\n');
  const ports: PortIntent[] = [];
  for (const line of lines) {
    const m = ENTRY.exec(line);
    if (m) ports.push({ port: Number(m[1]), protocol: m[2] as PortIntent['protocol'] });
  }
  return { managed: lines[0] === MANAGED_HEADER, ports: ports.sort(comparePorts) };
}

/** The marker's app list (one valid app name a line). Pure. */
export function parseMarker(content: string): string[] {
  return content
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !nameProblem(l));
}
