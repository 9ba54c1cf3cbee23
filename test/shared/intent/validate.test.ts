import { describe, expect, it } from 'vitest';
import { isKept, nodeIntentFromSnapshot } from '../../../shared/intent/node-intent.js';
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
    const bad = { ...spec, versions: [{ ...spec.versions[0], version: '../up' }, { ...spec.versions[0], version: '2' }] };
    expect(errorOf(bad)).toContain('field versions[0].version: version name must not contain a slash');
    expect(errorOf(bad)).toContain('field versions: expected at most one live version');
  });

  it('refuses text that is not JSON', () => {
    const r = validateAppIntent('key k', 'web', '{nope');
    expect(r.ok ? '' : r.error).toMatch(/^invalid intent at key k: not JSON/);
  });
});

describe('node intent', () => {
  const entry = (app: string, value: unknown) => ({ key: `p/intent/n1/${app}`, value: typeof value === 'string' ? value : JSON.stringify(value) });

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

  it('keeps apps with invalid intent apart, and never removes them', () => {
    const ni = nodeIntentFromSnapshot('p', 'n1', { index: 3, entries: [entry('web', appIntent('1')), entry('api', '{"schema":1}')] });
    expect([...ni.apps.keys()]).toEqual(['web']);
    expect([...ni.invalid.keys()]).toEqual(['api']);
    expect(isKept(ni, 'api')).toBe(true);
    expect(isKept(ni, 'old')).toBe(false);
  });
});
