import type { PortIntent } from '../../shared/intent/schema.js';

/** Every rule we write carries this comment prefix followed by the app name. */
export const COMMENT_PREFIX = 'platypus:';

/** One rule of our chain as iptables-save prints it; `app`/`port` are set when it is one of ours. */
export interface ChainRule {
  line: string;
  app?: string;
  port?: PortIntent;
}

/** Our chain and its INPUT jumps as seen in one family's filter table. */
export interface ChainState {
  exists: boolean;
  rules: ChainRule[];
  /** How many `-A INPUT -j <chain>` rules there are (we want exactly one once the chain has rules). */
  jumps: number;
}

const BUILTIN = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING', 'ACCEPT', 'DROP', 'RETURN', 'REJECT', 'QUEUE', 'LOG']);

/** Returns why `name` cannot be our chain's name, or undefined when it can. */
export function chainProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$/.test(name)) return 'expected 1-28 letters, digits, _ . - (not starting with - or .)';
  if (BUILTIN.has(name.toUpperCase())) return 'must not be a built-in chain or target name';
  return undefined;
}

/** The canonical iptables-save form of the rule accepting `p` for `app` in `chain`. */
export function ruleLine(chain: string, app: string, p: PortIntent): string {
  return `-A ${chain} -p ${p.protocol} -m ${p.protocol} --dport ${p.port} -m comment --comment "${COMMENT_PREFIX}${app}" -j ACCEPT`;
}

/** The jump from INPUT to our chain, as iptables-save prints it. */
export function jumpLine(chain: string): string {
  return `-A INPUT -j ${chain}`;
}

const RULE = /^-A (\S+) -p (tcp|udp) (?:-m (?:tcp|udp) )?--dport (\d+) -m comment --comment (?:"([^"]*)"|(\S+)) -j ACCEPT$/;

/** Parses one `-A <chain> …` line; rules we did not write (or cannot read) keep only their text. */
export function parseRule(chain: string, line: string): ChainRule {
  const m = RULE.exec(line);
  const comment = m ? (m[4] ?? m[5] ?? '') : '';
  if (!m || m[1] !== chain || !comment.startsWith(COMMENT_PREFIX)) return { line };
  const app = comment.slice(COMMENT_PREFIX.length);
  const port: PortIntent = { port: Number(m[3]), protocol: m[2] as PortIntent['protocol'] };
  if (app === '' || port.port < 1 || port.port > 65535) return { line };
  return { line: ruleLine(chain, app, port), app, port };
}

/** Reads our chain and the INPUT jumps to it from `iptables-save -t filter` output; nothing else is kept. */
export function parseFilterTable(save: string, chain: string): ChainState {
  const state: ChainState = { exists: false, rules: [], jumps: 0 };
  let table = '';
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    if (table !== 'filter') continue;
    if (line.startsWith(`:${chain} `)) state.exists = true;
    else if (line === jumpLine(chain)) state.jumps += 1;
    else if (line.startsWith(`-A ${chain} `)) state.rules.push(parseRule(chain, line));
  }
  return state;
}

const TAG = new RegExp(`(?:^| )-m comment --comment (?:"${COMMENT_PREFIX}[^"]+"|${COMMENT_PREFIX}\\S+)(?= |$)`);

/** True when a rule carries our comment tag (`platypus:<app>`), whatever else it says: a rule we may replace. */
export function carriesTag(line: string): boolean {
  return TAG.test(line);
}

/**
 * Why the chain is not ours to take, or undefined. --chain may name a chain someone else fills (a typo, or a
 * chain of the host's own firewall), and taking it flushes it: so a chain is taken only while it is empty or
 * every rule in it carries our tag.
 */
export function foreignChainProblem(chain: string, family: string, state: ChainState): string | undefined {
  const foreign = state.rules.filter((r) => !carriesTag(r.line));
  if (foreign.length === 0) return undefined;
  return (
    `chain ${chain} (${family}) holds ${foreign.length} rule(s) not written by pp-iptables, e.g. ${foreign[0]!.line}: ` +
    `refusing to take it over; --chain must name a chain that is empty or holds only rules tagged "${COMMENT_PREFIX}<app>"`
  );
}

/** Each app's rule lines in `rules`, in chain order. */
export function linesByApp(rules: ChainRule[]): Map<string, string[]> {
  const byApp = new Map<string, string[]>();
  for (const r of rules) if (r.app) byApp.set(r.app, [...(byApp.get(r.app) ?? []), r.line]);
  return byApp;
}
