import { describe, expect, it } from 'vitest';
import { checkAppIntent, parseAppIntent } from '../../../shared/intent/schema.js';
import { validateAppIntent } from '../../../shared/intent/validate.js';
import { appIntent } from '../../support/intent-fixtures.js';

const SHA = 'a'.repeat(64);
const errorOf = (spec: unknown): string => {
  const r = validateAppIntent('key p/intent/n1/web', 'web', JSON.stringify(spec));
  return r.ok ? 'valid' : r.error;
};
const problemsOf = (spec: unknown): string[] => {
  const r = checkAppIntent(spec);
  return r.ok ? [] : r.problems.map((p) => p.message);
};
const withVersion = (v: Record<string, unknown>) => ({
  ...appIntent('1'),
  versions: [{ version: '1', url: 'file:///a', sha256: SHA, state: 'live', ...v }],
});
const withService = (s: Record<string, unknown>) => ({ ...appIntent('1'), service: { command: ['bin/server'], ...s } });
const withHealth = (h: Record<string, unknown>) => ({ ...appIntent('1'), health: h });

describe('app intent schema: what each field refuses', () => {
  it.each([
    [5, 'field (top level): expected an object, got number'],
    [null, 'field (top level): expected an object, got null'],
    [[], 'field (top level): expected an object, got array'],
    [{ ...appIntent('1'), schema: '1' }, 'field schema: expected schema version 1'],
    [{ schema: 1 }, 'field basedir: missing: expected a string'],
    [JSON.parse('{"schema":1,"basedir":"/x","constructor":1}'), 'field constructor: unknown field'],
    [JSON.parse('{"schema":1,"basedir":"/x","__proto__":{}}'), 'field __proto__: unknown field'],
    [{ ...appIntent('1'), basedir: 5 }, 'field basedir: expected a string, got number'],
    [{ ...appIntent('1'), basedir: '/' }, 'field basedir: expected an absolute path'],
    [{ ...appIntent('1'), versions: {} }, 'field versions: expected an array, got object'],
    [{ ...appIntent('1'), versions: [7] }, 'field versions[0]: expected an object, got number'],
    [withVersion({ version: 5 }), 'field versions[0].version: expected a string, got number'],
    [withVersion({ version: '' }), 'field versions[0].version: version name must not be empty'],
    [withVersion({ url: 'ftp://x' }), 'field versions[0].url: expected a file://, http:// or https:// URL'],
    [withVersion({ sha256: 'A'.repeat(64) }), 'field versions[0].sha256: expected 64 lowercase hex characters'],
    [withVersion({ state: 'Live' }), 'field versions[0].state: expected "prepared" or "live", got "Live"'],
    [withVersion({ state: undefined }), 'field versions[0].state: missing: expected "prepared" or "live"'],
    [withVersion({ extra: 1 }), 'field versions[0].extra: unknown field'],
    [withVersion({ size: '1024' }), 'field versions[0].size: expected a number, got string'],
    [withVersion({ size: 0 }), 'field versions[0].size: expected 1..9007199254740991'],
    [withVersion({ size: 10.5 }), 'field versions[0].size: expected an integer'],
    [{ ...appIntent('1'), ports: [{ port: '80' }] }, 'field ports[0].port: expected a number, got string'],
    [{ ...appIntent('1'), ports: [{ port: 80.5 }] }, 'field ports[0].port: expected an integer'],
    [{ ...appIntent('1'), ports: [{ port: 0 }] }, 'field ports[0].port: expected 1..65535'],
    [{ ...appIntent('1'), ports: [{ port: 80, protocol: 'icmp' }] }, 'field ports[0].protocol: expected "tcp" or "udp", got "icmp"'],
    [{ ...appIntent('1'), ports: [{ port: 80, proto: 'tcp' }] }, 'field ports[0].proto: unknown field'],
    [{ ...appIntent('1'), service: null }, 'field service: expected an object, got null'],
    [withService({ command: undefined }), 'field service.command: missing: expected an array'],
    [withService({ command: [] }), 'field service.command: expected at least the program to run'],
    [withService({ command: ['run', ''] }), 'field service.command[1]: expected a non-empty string'],
    [withService({ env: [] }), 'field service.env: expected an object, got array'],
    [withService({ env: { '1BAD': 'x' } }), 'field service.env.1BAD: expected an environment variable name'],
    [withService({ env: { PORT: 80 } }), 'field service.env.PORT: expected a string, got number'],
    [withService({ user: 'Root' }), 'field service.user: expected a user name'],
    [{ ...appIntent('1'), rollout: [] }, 'field rollout: expected an object, got array'],
    [{ ...appIntent('1'), rollout: { maxParallel: 0 } }, 'field rollout.maxParallel: expected 1..10000'],
    [{ ...appIntent('1'), rollout: { maxParallel: 1.5 } }, 'field rollout.maxParallel: expected an integer'],
    [{ ...appIntent('1'), rollout: { minHealthySeconds: -1 } }, 'field rollout.minHealthySeconds: expected 0..86400'],
    [{ ...appIntent('1'), rollout: { maxFailures: '1' } }, 'field rollout.maxFailures: expected a number, got string'],
    [{ ...appIntent('1'), rollout: { max_parallel: 2 } }, 'field rollout.max_parallel: unknown field'],
    [withHealth({ http: 5 }), 'field health.http: expected a string, got number'],
    [withHealth({ http: 'ftp://x' }), 'field health.http: expected an http:// or https:// URL'],
    [withHealth({ command: [] }), 'field health.command: expected at least the program to run'],
    [withHealth({ command: ['true'], timeoutMs: 99 }), 'field health.timeoutMs: expected 100..600000'],
    [withHealth({ command: ['true'], timeoutMs: 1000.5 }), 'field health.timeoutMs: expected an integer'],
    [withHealth({}), 'field health: expected exactly one of http or command'],
    [{ ...appIntent('1'), requires: 'db' }, 'field requires: expected an array, got string'],
    [{ ...appIntent('1'), requires: ['a/b'] }, 'field requires[0]: required app name must not contain a slash'],
    [
      { ...appIntent('1'), versions: [...withVersion({}).versions, { version: '1', url: 'file:///b', sha256: SHA, state: 'prepared' }] },
      'field versions[1].version: duplicate version 1',
    ],
  ])('refuses with a message naming the field (%#)', (spec, message) => {
    expect(errorOf(spec)).toContain(message);
  });

  it('accepts the edges of each range', () => {
    expect(errorOf({ ...appIntent('1'), ports: [{ port: 1 }, { port: 65535, protocol: 'udp' }] })).toBe('valid');
    expect(errorOf(withHealth({ http: 'https://x/h', timeoutMs: 100 }))).toBe('valid');
    expect(errorOf(withHealth({ command: ['true'], timeoutMs: 600_000 }))).toBe('valid');
    expect(errorOf(withService({ env: { _A9: '' }, user: 'www-data_1' }))).toBe('valid');
    expect(errorOf(withVersion({ size: 1 }))).toBe('valid');
    expect(errorOf(withVersion({ size: Number.MAX_SAFE_INTEGER }))).toBe('valid');
  });
});

describe('app intent schema: all problems at once', () => {
  it('reports every problem in field order, each with its path, in one error', () => {
    const spec = {
      schema: 2,
      basedir: 'srv/../x',
      versions: [{ version: '../up', url: 'ftp://', sha256: 'z', state: 'live', zz: 1 }],
      ports: [{ port: 0 }],
      extra: true,
    };
    expect(errorOf(spec)).toBe(
      'invalid intent at key p/intent/n1/web: field schema: expected schema version 1; field basedir: expected an absolute path; ' +
        'field versions[0].version: version name must not contain a slash; ' +
        'field versions[0].url: expected a file://, http:// or https:// URL; field versions[0].sha256: expected 64 lowercase hex characters; ' +
        'field versions[0].zz: unknown field; field ports[0].port: expected 1..65535; field extra: unknown field',
    );
  });

  it('still runs cross-field checks after pattern or range problems', () => {
    const spec = { ...appIntent('1'), basedir: 'rel', ports: [{ port: 0 }, { port: 0 }], service: undefined };
    expect(problemsOf(spec)).toEqual([
      'expected an absolute path',
      'expected 1..65535',
      'expected 1..65535',
      'required when a version is live',
      'duplicate port 0/tcp',
    ]);
  });

  it('skips cross-field checks when a value has the wrong type, since they would judge garbage', () => {
    expect(problemsOf({ ...appIntent('1'), schema: 2, ports: [{ port: 80 }, { port: 80 }] })).toEqual(['expected schema version 1']);
    expect(problemsOf(withHealth({ http: 5 }))).toEqual(['expected a string, got number']);
  });

  it('parseAppIntent throws the same problems as an Error', () => {
    expect(() => parseAppIntent({ ...appIntent('1'), schema: 2, surprise: 1 })).toThrow(
      'invalid intent: field schema: expected schema version 1; field surprise: unknown field',
    );
  });
});

describe('app intent schema: the value it returns', () => {
  it('fills defaults', () => {
    expect(parseAppIntent({ schema: 1, basedir: '/srv/x' })).toEqual({
      schema: 1,
      basedir: '/srv/x',
      versions: [],
      ports: [],
      requires: [],
    });
    const intent = parseAppIntent({
      ...appIntent('1'),
      ports: [{ port: 53 }],
      service: { command: ['run'] },
      health: { http: 'http://h' },
    });
    expect(intent.ports).toEqual([{ port: 53, protocol: 'tcp' }]);
    expect(intent.service).toEqual({ command: ['run'], env: {} });
    expect(intent.health).toEqual({ http: 'http://h', timeoutMs: 30_000 });
    expect(parseAppIntent({ ...appIntent('1'), rollout: {} }).rollout).toEqual({ maxParallel: 1, minHealthySeconds: 0, maxFailures: 1 });
  });

  it('puts keys in schema order whatever the input order, so stable comparisons see equal intents as equal', () => {
    const intent = parseAppIntent({
      requires: [],
      health: { timeoutMs: 100, command: ['x'] },
      service: { user: 'a', env: { B: '1', A: '2' }, command: ['x'] },
      ports: [{ protocol: 'udp', port: 1 }],
      versions: [
        { state: 'prepared', sha256: SHA, url: 'https://x', version: 'v' },
        { size: 5, state: 'live', sha256: SHA, url: 'https://y', version: 'w' },
      ],
      basedir: '/x',
      schema: 1,
    });
    expect(JSON.stringify(intent)).toBe(
      `{"schema":1,"basedir":"/x","versions":[{"version":"v","url":"https://x","sha256":"${SHA}","state":"prepared"},{"version":"w","url":"https://y","sha256":"${SHA}","size":5,"state":"live"}],"ports":[{"port":1,"protocol":"udp"}],` +
        '"service":{"command":["x"],"env":{"B":"1","A":"2"},"user":"a"},"health":{"command":["x"],"timeoutMs":100},"requires":[]}',
    );
  });

  it('returns fresh objects and leaves the input as it was', () => {
    const input = { ...appIntent('1'), ports: [{ port: 80 }], health: { command: ['true'] }, requires: ['db'] };
    const before = JSON.stringify(input);
    const intent = parseAppIntent(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(intent.ports[0]).not.toBe(input.ports[0]);
    expect(intent.versions[0]).not.toBe(input.versions[0]);
    expect(intent.service?.command).not.toBe(input.service.command);
    expect(intent.service?.env).not.toBe(input.service.env);
    expect(intent.requires).not.toBe(input.requires);
    intent.ports.push({ port: 1, protocol: 'udp' });
    expect(input.ports).toHaveLength(1);
  });

  it('keeps an environment variable named __proto__ as a variable, never as a prototype', () => {
    const intent = parseAppIntent(JSON.parse(JSON.stringify(withService({})).replace('"command"', '"env":{"__proto__":"x"},"command"')));
    expect(Object.entries(intent.service?.env ?? {})).toEqual([['__proto__', 'x']]);
    expect(Object.getPrototypeOf(intent.service?.env)).toBe(Object.prototype);
  });
});
