import { describe, expect, it } from 'vitest';
import { claimPorts } from '../../../agents/iptables/ports.js';
import { INVALID, nodeIntent } from './intent.js';

const held = (entries: Record<string, string[]>) => new Map(Object.entries(entries).map(([app, ids]) => [app, new Set(ids)]));

describe('claimPorts', () => {
  it('grants every app its ports, sorted, when nothing clashes (same number, other protocol is no clash)', () => {
    const claims = claimPorts(nodeIntent({ web: [8080, [53, 'udp']], dns: [53] }), new Map());
    expect(claims.errors.size).toBe(0);
    expect(claims.granted.get('web')).toEqual([
      { port: 53, protocol: 'udp' },
      { port: 8080, protocol: 'tcp' },
    ]);
  });

  it('leaves a clashing port with the app holding it, even when another claimant sorts first', () => {
    const claims = claimPorts(nodeIntent({ aaa: [8080, 7000], web: [8080] }), held({ web: ['8080/tcp'] }));
    expect(claims.granted.has('web')).toBe(true);
    expect(claims.granted.has('aaa')).toBe(false);
    expect(claims.errors.get('aaa')).toContain('bad port spec for app aaa: port 8080/tcp is also intended for (or held by) app web');
  });

  it('gives a new clashing port to the first app by name', () => {
    const claims = claimPorts(nodeIntent({ b: [80], a: [80] }), new Map());
    expect([...claims.granted.keys()]).toEqual(['a']);
    expect(claims.errors.get('b')).toContain('app a');
  });

  it('protects ports held by an app whose intent is invalid', () => {
    const claims = claimPorts(nodeIntent({ web: INVALID, thief: [8080] }), held({ web: ['8080/tcp'] }));
    expect(claims.errors.get('thief')).toContain('port 8080/tcp is also intended for (or held by) app web');
    expect(claims.errors.has('web')).toBe(false);
  });
});
