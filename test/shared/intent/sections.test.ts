import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agentNames } from '../../../shared/agent-list.js';
import { intentDigest } from '../../../shared/intent/digest.js';
import { intentJsonSchema } from '../../../shared/intent/json-schema.js';
import { checkAppIntent } from '../../../shared/intent/schema.js';
import { BASELINE_SECTIONS, SECTION_NAMES, SECTIONS } from '../../../shared/intent/sections.js';
import { validateAppIntent } from '../../../shared/intent/validate.js';
import { appIntent } from '../../support/intent-fixtures.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const errorFor = (reader: string | undefined, spec: unknown, app = 'web') => {
  const r = validateAppIntent('key p/intent/n1/web', app, JSON.stringify(spec), reader);
  return r.ok ? 'valid' : r.error;
};
const newer = (v: string, than: string) => {
  const [a, b] = [v, than].map((x) => x.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (a![i] !== b![i]) return a![i]! > b![i]!;
  return false;
};

describe('the sections of app intent and their agents', () => {
  it('are the fields of the schema, in its order, each owned by the core or by an agent of agents/agents.json', () => {
    expect(Object.keys(intentJsonSchema().properties ?? {})).toEqual(SECTION_NAMES);
    const agents = agentNames();
    for (const name of SECTION_NAMES) {
      const { owner, since } = SECTIONS[name];
      expect(owner === 'core' || agents.includes(owner), `${name}: owner ${owner}`).toBe(true);
      // A section is introduced by a version that exists: not one newer than this package.
      expect(newer(since, VERSION), `${name} since ${since}`).toBe(false);
    }
    // The sections an agent without a sections list in its heartbeat understands are all still sections.
    for (const name of BASELINE_SECTIONS) expect(SECTION_NAMES).toContain(name);
  });

  it.each([
    ['a port out of range', { ports: [{ port: 70000 }] }, 'iptables', 'field ports[0].port: expected 1..65535'],
    ['a bad health check', { health: { http: 'ftp://x' } }, 'setlive', 'field health.http: expected an http:// or https:// URL'],
    ['a bad rollout', { rollout: { maxParallel: 0 } }, 'setlive', 'field rollout.maxParallel: expected 1..10000'],
    ['a service that is not an object', { service: [] }, 'setlive', 'field service: expected an object, got array'],
    ['a field a later setlive might add', { service: { command: ['bin/x'], drainSeconds: 5 } }, 'setlive', 'field service.drainSeconds'],
    ['a bad required app', { requires: ['../x'] }, 'setlive', 'field requires[0]'],
  ])('%s fails the app for its owner alone: the other agents pass over the section', (_what, fields, owner, message) => {
    const spec = { ...appIntent('1'), ...fields };
    expect(errorFor(undefined, spec)).toContain(message);
    expect(errorFor(owner, spec)).toContain(message);
    for (const reader of ['preparer', 'iptables', 'setlive', 'pp-files'].filter((r) => r !== owner))
      expect(errorFor(reader, spec)).toBe('valid');
  });

  it('gives an agent that passes over a section what its absence means, a fresh value each time', () => {
    const spec = { ...appIntent('1'), ports: [{ port: 70000 }], service: { command: [] }, rollout: 'soon' };
    const first = checkAppIntent(spec, 'preparer');
    const second = checkAppIntent(spec, 'preparer');
    if (!first.ok || !second.ok) throw new Error('expected both valid');
    expect(first.intent.ports).toEqual([]);
    expect(first.intent.service).toBeUndefined();
    expect(first.intent.rollout).toBeUndefined();
    first.intent.ports.push({ port: 1, protocol: 'tcp' });
    expect(second.intent.ports).toEqual([]);
    // A valid section passed over is read as it is: every agent digests a valid intent alike.
    const valid = { ...appIntent('1'), health: { http: 'http://127.0.0.1/health' }, rollout: { maxParallel: 2 }, requires: ['db'] };
    const digests = [undefined, 'preparer', 'iptables', 'setlive'].map((reader) => {
      const r = checkAppIntent(valid, reader);
      if (!r.ok) throw new Error(`invalid for ${reader}`);
      return intentDigest(r.intent);
    });
    expect(new Set(digests).size).toBe(1);
  });

  it('checks the rules across fields only in the agent whose section they are about', () => {
    // A live version with no service: pp-setlive's to refuse; pp-preparer installs it.
    const noService: Record<string, unknown> = { ...appIntent('1') };
    delete noService.service;
    expect(errorFor('setlive', noService)).toContain('field service: required when a version is live');
    expect(errorFor('preparer', noService)).toBe('valid');
    const ports = { ...appIntent('1'), ports: [{ port: 80 }, { port: 80 }] };
    expect(errorFor('iptables', ports)).toContain('field ports[1]: duplicate port 80/tcp');
    expect(errorFor('setlive', ports)).toBe('valid');
    const self = { ...appIntent('1'), requires: ['web'] };
    expect(errorFor('setlive', self)).toContain('field requires: an app cannot require itself');
    expect(errorFor('iptables', self)).toBe('valid');
  });

  it('refuses a problem in the core in every agent, and a field no agent owns, saying which agent and version refuse it', () => {
    const core = { ...appIntent('1'), basedir: 'relative' };
    for (const reader of ['preparer', 'iptables', 'setlive', 'pp-files']) expect(errorFor(reader, core)).toContain('field basedir');
    const unknown = { ...appIntent('1'), hooks: [] };
    expect(errorFor(undefined, unknown)).toBe('invalid intent at key p/intent/n1/web: field hooks: unknown field');
    expect(errorFor('iptables', unknown)).toBe(
      `invalid intent at key p/intent/n1/web: field hooks: unknown field: iptables ${VERSION} knows no such field (if a later Platypus introduced it, upgrade this agent)`,
    );
  });
});
