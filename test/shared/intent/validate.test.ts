import { describe, expect, it } from 'vitest';
import { type NodeIntent, nodeIntentFromSnapshot } from '../../../shared/intent/node-intent.js';
import { removalHeld } from '../../../shared/loop/admit.js';
import { validateAppIntent } from '../../../shared/intent/validate.js';
import { appIntent } from '../../support/intent-fixtures.js';

const check = (spec: unknown, app = 'web') => validateAppIntent('key p/intent/n1/web', app, JSON.stringify(spec));
const errorOf = (spec: unknown) => {
  const r = check(spec);
  return r.ok ? 'valid' : r.error;
};

describe('app intent validation', () => {
  it('accepts a full spec and fills defaults', () => {
    const r = check({ ...appIntent('1.0'), health: { http: 'http://127.0.0.1:8080/health' }, requires: ['db'] });
    expect(r.ok && r.intent.health?.timeoutMs).toBe(30_000);
    expect(r.ok && r.intent.service?.env).toEqual({});
  });

  it.each([
    [{ ...appIntent('1'), schema: 2 }, 'field schema: expected schema version 1'],
    [{ ...appIntent('1'), basedir: 'relative' }, 'field basedir: expected an absolute path'],
    [{ ...appIntent('1'), basedir: '/srv/../etc' }, "field basedir: must not contain '..'"],
    [{ ...appIntent('1'), ports: [{ port: 70000, protocol: 'tcp' }] }, 'field ports[0].port: expected 1..65535'],
    [{ ...appIntent('1'), ports: [{ port: 80 }, { port: 80, protocol: 'tcp' }] }, 'field ports[1]: duplicate port 80/tcp'],
    [{ ...appIntent('1'), requires: ['web'] }, 'field requires: an app cannot require itself'],
    [{ ...appIntent('1'), surprise: true }, 'field surprise: unknown field'],
    [{ ...appIntent('1'), service: undefined }, 'field service: required when a version is live'],
    [{ ...appIntent('1'), health: { http: 'http://x', command: ['true'] } }, 'field health: expected exactly one of http or command'],
  ])('names the field and what was expected (%#)', (spec, message) => {
    expect(errorOf(spec)).toContain(message);
    expect(errorOf(spec)).toContain('invalid intent at key p/intent/n1/web');
  });

  it('refuses version names that could escape a folder and two live versions', () => {
    const spec = appIntent('1');
    const bad = {
      ...spec,
      versions: [
        { ...spec.versions[0], version: '../up' },
        { ...spec.versions[0], version: '2' },
      ],
    };
    expect(errorOf(bad)).toContain('field versions[0].version: version name must not contain a slash');
    expect(errorOf(bad)).toContain('field versions: expected at most one live version');
  });

  it.each([
    ['//srv/x', "field basedir: expected a normalized absolute path: no '//', no '.' segment, no trailing '/'"],
    ['/srv/./x', 'field basedir: expected a normalized absolute path'],
    ['/srv/x/', 'field basedir: expected a normalized absolute path'],
    ['/.', 'field basedir: expected a normalized absolute path'],
    ['/srv/a\u0000b', 'field basedir: must not contain control characters or NUL'],
    [`/srv/${'n'.repeat(300)}`, 'field basedir: expected each name in the path to be at most 255 characters'],
    [`/srv/${'é'.repeat(200)}`, 'field basedir: expected each name in the path to be at most 255 bytes, got 400'],
  ])('refuses a basedir that is not a plain normalized path: %j', (basedir, message) => {
    expect(errorOf({ ...appIntent('1'), basedir })).toContain(message);
  });

  it('refuses NUL bytes, invalid UTF-8 and values past the documented limits, naming the field', () => {
    const spec = appIntent('1');
    const version = spec.versions[0]!;
    expect(errorOf({ ...spec, versions: [{ ...version, url: 'file:///a\u0000b' }] })).toContain(
      'field versions[0].url: must not contain spaces, control characters or NUL',
    );
    expect(errorOf({ ...spec, service: { command: ['bin/x', 'a\u0000b'] } })).toContain(
      'field service.command[1]: must not contain a NUL byte',
    );
    expect(errorOf({ ...spec, service: { command: ['bin/x'], env: { X: 'a\u0000b' } } })).toContain(
      'field service.env.X: must not contain a NUL byte',
    );
    expect(errorOf({ ...spec, service: { command: ['bin/x'], env: { X: 'v'.repeat(200 * 1024) } } })).toContain(
      'field service.env.X: expected at most 32768 characters, got 204800',
    );
    const many = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`V${i}`, 'v'.repeat(20_000)]));
    expect(errorOf({ ...spec, service: { command: ['bin/x'], env: many } })).toContain(
      'field service.env: expected at most 65536 bytes of names and values',
    );
    const versions = (n: number) => Array.from({ length: n }, (_, i) => ({ ...version, version: `v${i}`, state: 'prepared' }));
    expect(errorOf({ ...spec, versions: versions(500) })).toContain('field versions: expected at most 100 versions');
    expect(errorOf({ ...spec, versions: versions(50_000) })).toMatch(
      /^invalid intent at key p\/intent\/n1\/web: value of \d+ bytes, over the 512 KiB limit \(expected at most 524288 bytes\)$/,
    );
    const r = validateAppIntent('key k', 'web', JSON.stringify(spec).replace('bin/server', 'bin/\uFFFDserver'));
    expect(r.ok ? '' : r.error).toMatch(/^invalid intent at key k: not valid UTF-8 \(a replacement character at offset \d+\)$/);
  });

  it('refuses a program that the run script would read as an option or an assignment', () => {
    expect(errorOf({ ...appIntent('1'), service: { command: ['PORT=1', 'bin/hello'] } })).toContain(
      "field service.command[0]: expected a program: it must not start with '-' nor contain '='",
    );
    expect(errorOf({ ...appIntent('1'), service: { command: ['-c', 'id'] } })).toContain('field service.command[0]: expected a program');
    expect(errorOf({ ...appIntent('1'), service: { command: ['bin/hello', '--port=1', '-c'] } })).toBe('valid');
  });

  it('refuses JSON nested deeper than 64 levels before parsing it, naming the key and the limit, and takes 64', () => {
    const nested = (depth: number) =>
      JSON.stringify({ ...appIntent('1'), x: 0 }).replace('"x":0', `"x":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}`);
    expect(validateAppIntent('key k', 'web', nested(64))).toMatchObject({
      ok: false,
      error: 'invalid intent at key k: field x: unknown field',
    });
    expect(validateAppIntent('key k', 'web', nested(100_000))).toEqual({
      ok: false,
      error: expect.stringMatching(
        /^invalid intent at key k: JSON nested deeper than the limit of 64 levels \(level 65 opens at offset \d+\)$/,
      ),
    });
    // Brackets inside strings are text, not nesting.
    expect(check({ ...appIntent('1'), basedir: `/srv/${'['.repeat(200)}` }).ok).toBe(true);
  });

  it('refuses text that is not JSON', () => {
    const r = validateAppIntent('key k', 'web', '{nope');
    expect(r.ok ? '' : r.error).toMatch(/^invalid intent at key k: not JSON/);
  });
});

describe('node intent', () => {
  const entry = (app: string, value: unknown) => ({
    key: `p/intent/n1/${app}`,
    value: typeof value === 'string' ? value : JSON.stringify(value),
  });

  /** Whether the loop keeps an app this intent does not name: it holds the app's removal. */
  const isKept = (ni: NodeIntent, app: string) => removalHeld(ni, app) !== undefined;

  it('is not trusted when empty and not drained, so nothing may be removed', () => {
    const ni = nodeIntentFromSnapshot('p', 'n1', { index: 3, entries: [] });
    expect(ni.trusted).toBe(false);
    expect(isKept(ni, 'anything')).toBe(true);
  });

  it('is trusted and empty when drained', () => {
    const ni = nodeIntentFromSnapshot('p', 'n1', { index: 3, entries: [entry('.drained', '{}')] });
    expect(ni).toMatchObject({ trusted: true, drained: true });
    expect(isKept(ni, 'web')).toBe(false);
  });

  it('is not trusted when the drained marker sits beside app keys (an interrupted drain or put)', () => {
    const ni = nodeIntentFromSnapshot('p', 'n1', { index: 3, entries: [entry('.drained', '{}'), entry('web', appIntent('1'))] });
    expect(ni).toMatchObject({ trusted: false, drained: false });
    expect(ni.distrust).toContain('marked drained yet still has app keys (web)');
    expect(isKept(ni, 'old')).toBe(true);
  });

  it('refuses two apps sharing a basedir, or one inside the other, and leaves the other apps alone', () => {
    const ni = nodeIntentFromSnapshot('p', 'n1', {
      index: 3,
      entries: [
        entry('a', appIntent('1', { basedir: '/srv/shared' })),
        entry('b', appIntent('1', { basedir: '/srv/shared' })),
        entry('outer', appIntent('1', { basedir: '/srv/outer' })),
        entry('inner', appIntent('1', { basedir: '/srv/outer/inner' })),
        entry('ok', appIntent('1', { basedir: '/srv/outer2' })),
      ],
    });
    expect([...ni.apps.keys()]).toEqual(['ok']);
    expect(ni.invalid.get('a')).toBe(
      "invalid intent at key p/intent/n1/a: field basedir: /srv/shared is also the basedir of app b (each app needs a basedir of its own, not inside another's)",
    );
    expect(ni.invalid.get('inner')).toContain('field basedir: /srv/outer/inner is inside /srv/outer, the basedir of app outer');
    expect(ni.invalid.get('outer')).toContain('field basedir: /srv/outer holds /srv/outer/inner, the basedir of app inner');
    expect(isKept(ni, 'a')).toBe(true);
  });

  it('makes an app whose value is too large or nested too deep invalid, naming its key and the limit, and only that app', () => {
    const deep = `{"platypus":"platypus-signed/1","kind":"intent","spec":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const ni = nodeIntentFromSnapshot('p', 'n1', {
      index: 3,
      entries: [
        entry('web', appIntent('1')),
        { key: 'p/intent/n1/big', value: '', tooLarge: 600 * 1024 },
        entry('deep', deep),
        entry('plain', `[${deep}]`),
      ],
    });
    expect([...ni.apps.keys()]).toEqual(['web']);
    expect(Object.fromEntries(ni.invalid)).toEqual({
      big: 'invalid intent at key p/intent/n1/big: value of 614400 bytes, over the 512 KiB limit (expected at most 524288 bytes)',
      deep: expect.stringMatching(/^invalid intent at key p\/intent\/n1\/deep: JSON nested deeper than the limit of 64 levels \(level 65/),
      plain: expect.stringMatching(
        /^invalid intent at key p\/intent\/n1\/plain: JSON nested deeper than the limit of 64 levels \(level 65/,
      ),
    });
    expect(ni.trusted).toBe(true);
    expect(isKept(ni, 'big')).toBe(true);
  });

  it('keeps apps with invalid intent apart, and never removes them', () => {
    const ni = nodeIntentFromSnapshot('p', 'n1', { index: 3, entries: [entry('web', appIntent('1')), entry('api', '{"schema":1}')] });
    expect([...ni.apps.keys()]).toEqual(['web']);
    expect([...ni.invalid.keys()]).toEqual(['api']);
    expect(isKept(ni, 'api')).toBe(true);
    expect(isKept(ni, 'old')).toBe(false);
  });
});
