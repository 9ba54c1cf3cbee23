import { readCommand, readInteger, readMatching, readName, readOneOf, readString } from './fields.js';
import { hasFatal, own, type PathPart, type Problem, readObject, report, reportUnknown } from './problems.js';
import type { HealthIntent, PortIntent, ServiceIntent, VersionIntent } from './schema.js';

/**
 * Readers for the nested objects of an app intent. Each builds a fresh object with its keys in schema
 * order (intents are compared and hashed as JSON), fills defaults, and refuses unknown keys.
 * An optional key that is present but undefined is kept as undefined, as the schema library did before.
 */

const URL_PATTERN = /^(file|https?):\/\//;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_PATTERN = /^[a-z_][a-z0-9_-]*$/;
const HTTP_PATTERN = /^https?:\/\//;
const NO_PROGRAM = 'expected at least the program to run';

const VERSION_KEYS: ReadonlySet<string> = new Set(['version', 'url', 'sha256', 'size', 'state']);
const PORT_KEYS: ReadonlySet<string> = new Set(['port', 'protocol']);
const SERVICE_KEYS: ReadonlySet<string> = new Set(['command', 'env', 'user']);
const HEALTH_KEYS: ReadonlySet<string> = new Set(['http', 'command', 'timeoutMs']);

/** Reads one entry of `versions`: a safe version name, an artifact URL, its sha256, its optional size in bytes and its state. */
export function readVersion(problems: Problem[], path: PathPart[], value: unknown): VersionIntent | undefined {
  const obj = readObject(problems, path, value);
  if (!obj) return undefined;
  const version: Partial<VersionIntent> = {
    version: readName(problems, [...path, 'version'], own(obj, 'version'), 'version'),
    url: readMatching(problems, [...path, 'url'], own(obj, 'url'), URL_PATTERN, 'expected a file://, http:// or https:// URL'),
    sha256: readMatching(problems, [...path, 'sha256'], own(obj, 'sha256'), SHA256_PATTERN, 'expected 64 lowercase hex characters'),
    ...(Object.hasOwn(obj, 'size') ? { size: readOptional(obj.size, () => readInteger(problems, [...path, 'size'], obj.size, 1, Number.MAX_SAFE_INTEGER)) } : {}),
    state: readOneOf(problems, [...path, 'state'], own(obj, 'state'), ['prepared', 'live'] as const),
  };
  reportUnknown(problems, path, obj, VERSION_KEYS);
  return version as VersionIntent;
}

/** Reads one entry of `ports`: a port number 1..65535 and its protocol (tcp when absent). */
export function readPort(problems: Problem[], path: PathPart[], value: unknown): PortIntent | undefined {
  const obj = readObject(problems, path, value);
  if (!obj) return undefined;
  const protocol = own(obj, 'protocol');
  const port: Partial<PortIntent> = {
    port: readInteger(problems, [...path, 'port'], own(obj, 'port'), 1, 65535),
    protocol: protocol === undefined ? 'tcp' : readOneOf(problems, [...path, 'protocol'], protocol, ['tcp', 'udp'] as const),
  };
  reportUnknown(problems, path, obj, PORT_KEYS);
  return port as PortIntent;
}

/** Reads `service`: the command to run, its environment ({} when absent) and an optional user. */
export function readService(problems: Problem[], path: PathPart[], value: unknown): ServiceIntent | undefined {
  const obj = readObject(problems, path, value);
  if (!obj) return undefined;
  const service: Partial<ServiceIntent> = {
    command: readCommand(problems, [...path, 'command'], own(obj, 'command'), NO_PROGRAM),
    env: readEnv(problems, [...path, 'env'], own(obj, 'env')),
  };
  if (Object.hasOwn(obj, 'user')) {
    service.user = readOptional(obj.user, () => readMatching(problems, [...path, 'user'], obj.user, USER_PATTERN, 'expected a user name'));
  }
  reportUnknown(problems, path, obj, SERVICE_KEYS);
  return service as ServiceIntent;
}

/** Reads `health`: exactly one of an http URL or a command, and a timeout (30 s when absent). */
export function readHealth(problems: Problem[], path: PathPart[], value: unknown): HealthIntent | undefined {
  const obj = readObject(problems, path, value);
  if (!obj) return undefined;
  const start = problems.length;
  const health: Partial<HealthIntent> = {};
  if (Object.hasOwn(obj, 'http')) {
    health.http = readOptional(obj.http, () => readMatching(problems, [...path, 'http'], obj.http, HTTP_PATTERN, 'expected an http:// or https:// URL'));
  }
  if (Object.hasOwn(obj, 'command')) {
    health.command = readOptional(obj.command, () => readCommand(problems, [...path, 'command'], obj.command, NO_PROGRAM));
  }
  const timeoutMs = own(obj, 'timeoutMs');
  health.timeoutMs = timeoutMs === undefined ? 30_000 : readInteger(problems, [...path, 'timeoutMs'], timeoutMs, 100, 600_000);
  reportUnknown(problems, path, obj, HEALTH_KEYS);
  // Checked only on usable values: "http is not a string" already says what is wrong with it.
  if (!hasFatal(problems, start) && (health.http === undefined) === (health.command === undefined)) {
    report(problems, path, 'expected exactly one of http or command');
  }
  return health as HealthIntent;
}

/** An optional field that is undefined stays undefined; anything else goes to its reader. */
function readOptional<T>(value: unknown, read: () => T | undefined): T | undefined {
  return value === undefined ? undefined : read();
}

/** A record of environment variable names to string values; a bad name is fatal and its value is not read. */
function readEnv(problems: Problem[], path: PathPart[], value: unknown): Record<string, string> | undefined {
  if (value === undefined) return {};
  const obj = readObject(problems, path, value);
  if (!obj) return undefined;
  const entries: Array<[string, string]> = [];
  for (const key of Object.keys(obj)) {
    if (!ENV_NAME_PATTERN.test(key)) {
      report(problems, [...path, key], 'expected an environment variable name (a letter or _, then letters, digits or _)', true);
      continue;
    }
    const text = readString(problems, [...path, key], obj[key]);
    if (text !== undefined) entries.push([key, text]);
  }
  // fromEntries defines own properties, so a variable named __proto__ is kept rather than setting the prototype.
  return Object.fromEntries(entries);
}
