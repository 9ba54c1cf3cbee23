import { fingerprint, VERIFIABLE_KEY_TYPES } from './sshsig.js';

/**
 * OpenSSH's `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS), the one operators already keep for
 * `ssh-keygen -Y verify`: `PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY` per line, `#` comments.
 */

export interface AllowedSigner {
  /** Where the line is, for messages: `FILE:LINE`. */
  source: string;
  principals: string[];
  keyType: string;
  /** The SSH wire blob of the key, as a signature carries it. */
  publicKey: Buffer;
  /** Namespace patterns the key may sign for; absent: any namespace. */
  namespaces?: string[];
  validAfter?: Date;
  validBefore?: Date;
  certAuthority: boolean;
}

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** Splits a line on unquoted whitespace; double quotes group and are kept inside option values. */
function tokens(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new Error('unterminated quote');
  if (cur) out.push(cur);
  return out;
}

/** Splits on commas outside double quotes. */
function commaList(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const unquote = (s: string) => (s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);

/** `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`: local time unless it ends in Z, as ssh-keygen reads it. */
export function parseSignerTime(text: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(text);
  if (!m) throw new Error(`time ${JSON.stringify(text)}: expected YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const date = m[7] ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : new Date(y, mo - 1, d, h, mi, s);
  const [gotMonth, gotDay] = m[7] ? [date.getUTCMonth(), date.getUTCDate()] : [date.getMonth(), date.getDate()];
  if (Number.isNaN(date.getTime()) || gotMonth !== mo - 1 || gotDay !== d || h > 23 || mi > 59 || s > 59)
    throw new Error(`time ${JSON.stringify(text)}: not a date`);
  return date;
}

/** OpenSSH's pattern lists: `*` and `?` wildcards, `!` negates (a negated match refuses whatever else matched). */
export function matchPatternList(name: string, patterns: string[]): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    if (re.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function parseLine(line: string, source: string): AllowedSigner {
  const t = tokens(line);
  if (t.length < 3) throw new Error(`${source}: expected PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY`);
  const hasOptions = !KEY_TYPES.has(t[1]!);
  const [principalText, optionText, keyType, base64] = hasOptions ? [t[0]!, t[1]!, t[2], t[3]] : [t[0]!, undefined, t[1], t[2]];
  if (keyType === undefined || base64 === undefined) throw new Error(`${source}: expected PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY`);
  if (!KEY_TYPES.has(keyType)) throw new Error(`${source}: unknown key type ${JSON.stringify(keyType)}`);
  if (!/^[A-Za-z0-9+/]+=*$/.test(base64)) throw new Error(`${source}: the key is not base64`);
  const publicKey = Buffer.from(base64, 'base64');
  const declared = publicKey.length >= 4 ? publicKey.subarray(4, 4 + publicKey.readUInt32BE(0)).toString('latin1') : '';
  if (declared !== keyType) throw new Error(`${source}: the key says it is ${JSON.stringify(declared)}, the line ${keyType}`);
  const signer: AllowedSigner = {
    source,
    principals: commaList(unquote(principalText)).filter(Boolean),
    keyType,
    publicKey,
    certAuthority: false,
  };
  const seen = new Set<string>();
  for (const option of optionText ? commaList(optionText) : []) {
    const eq = option.indexOf('=');
    const name = (eq < 0 ? option : option.slice(0, eq)).toLowerCase();
    const rawValue = eq < 0 ? undefined : option.slice(eq + 1);
    const value = rawValue === undefined ? undefined : unquote(rawValue);
    try {
      // As ssh-keygen: one clause of each option, and option values in double quotes; it refuses the line otherwise.
      if (seen.has(name)) throw new Error(`multiple "${name}" clauses`);
      seen.add(name);
      if (rawValue !== undefined && !(rawValue.length >= 2 && rawValue.startsWith('"') && rawValue.endsWith('"')))
        throw new Error(`option ${name}: the value must be in double quotes (${name}="…")`);
      if (name === 'cert-authority' && value === undefined) signer.certAuthority = true;
      else if (name === 'namespaces' && value !== undefined) signer.namespaces = value.split(',');
      else if (name === 'valid-after' && value !== undefined) signer.validAfter = parseSignerTime(value);
      else if (name === 'valid-before' && value !== undefined) signer.validBefore = parseSignerTime(value);
      else throw new Error(`unknown option ${JSON.stringify(option)}`);
    } catch (err) {
      throw new Error(`${source}: ${(err as Error).message}`);
    }
  }
  return signer;
}

/** Parses a whole allowed_signers text; throws naming the file and line of the first bad line. */
export function parseAllowedSigners(text: string, file = 'allowed_signers'): AllowedSigner[] {
  // String.prototype.trim would take a byte-order mark for white space; ssh-keygen refuses the line.
  if (text.charCodeAt(0) === 0xfeff)
    throw new Error(`${file}:1: starts with a byte-order mark, which ssh-keygen refuses: save it without one`);
  const out: AllowedSigner[] = [];
  text.split('\n').forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      out.push(parseLine(line, `${file}:${i + 1}`));
    } catch (err) {
      const message = (err as Error).message;
      throw new Error(message.startsWith(`${file}:`) ? message : `${file}:${i + 1}: ${message}`);
    }
  });
  return out;
}

/**
 * The signer that may sign in `namespace` with this key at `time` (ssh-keygen checks validity at verification
 * time), or an Error saying why none may. Certificate authorities are not keys that sign: they never match.
 */
export function findSigner(signers: AllowedSigner[], publicKey: Buffer, namespace: string, time: Date): AllowedSigner | Error {
  const lines = signers.filter((s) => !s.certAuthority && s.publicKey.equals(publicKey));
  if (lines.length === 0) return new Error(`signed by a key not in the trusted signers (${fingerprint(publicKey)})`);
  const reasons: string[] = [];
  for (const s of lines) {
    if (!VERIFIABLE_KEY_TYPES.includes(s.keyType))
      reasons.push(`${s.source}: key type ${s.keyType} is not supported (only ${VERIFIABLE_KEY_TYPES.join(', ')})`);
    else if (s.namespaces && !matchPatternList(namespace, s.namespaces))
      reasons.push(`${s.source}: the key may sign for namespaces ${s.namespaces.join(',')} only, not ${namespace}`);
    else if (s.validAfter && time < s.validAfter) reasons.push(`${s.source}: the key is not valid before ${s.validAfter.toISOString()}`);
    else if (s.validBefore && time >= s.validBefore) reasons.push(`${s.source}: the key is not valid after ${s.validBefore.toISOString()}`);
    else return s;
  }
  return new Error(`the signing key ${fingerprint(publicKey)} is not allowed: ${reasons.join('; ')}`);
}
