import { describe, expect, it } from 'vitest';
import { restoreInput } from '../../../agents/iptables/apply.js';
import { planNative, type NativeObserved } from '../../../agents/iptables/plan.js';
import { ruleLine, type ChainState } from '../../../agents/iptables/rules.js';
import { admitPass } from '../../../shared/loop/admit.js';
import { INVALID, nodeIntent } from './intent.js';

const r = (app: string, port: number, protocol: 'tcp' | 'udp' = 'tcp') => ({
  line: ruleLine('PLATYPUS', app, { port, protocol }),
  app,
  port: { port, protocol },
});
const observed = (state: Partial<ChainState>): NativeObserved => ({
  chain: 'PLATYPUS',
  families: [{ family: 'ipv4', state: { exists: true, rules: [], jumps: 1, ...state } }],
});
const byApp = (plan: ReturnType<typeof planNative>) => Object.fromEntries(plan.apps.map((p) => [p.app, p]));

describe('planNative', () => {
  it('keeps the rules of apps no longer intended while the intent is untrusted, and the loop holds any write', () => {
    const untrusted = nodeIntent({});
    const plan = planNative(untrusted, observed({ rules: [r('web', 80)] }));
    expect(plan.node).toEqual([]);
    expect(plan.apps.every((p) => p.actions.length === 0)).toBe(true);
    // A stray .drained beside an app key: the write for web is planned, and held whole by the loop.
    const stray = nodeIntent({ web: [81] }, true);
    const admitted = admitPass(['sync-chain'], 'before', stray, planNative(stray, observed({ rules: [r('web', 80), r('old', 1)] })));
    expect(admitted.node).toEqual([
      {
        action: { kind: 'sync-chain', family: 'ipv4', chain: 'PLATYPUS', lines: [r('old', 1).line, r('web', 81).line] },
        apps: ['web'],
        held: expect.stringContaining('removal waits: '),
      },
    ]);
  });

  it('plans no action when the chain already matches, and reports open ports', () => {
    const plan = planNative(nodeIntent({ web: [80, 443] }), observed({ rules: [r('web', 80), r('web', 443)] }));
    expect(plan.node).toEqual([]);
    expect(byApp(plan).web).toMatchObject({ actions: [], details: { open: ['80/tcp', '443/tcp'] } });
  });

  it('plans one node-wide write with the whole chain, serving only the app that changed', () => {
    const plan = planNative(nodeIntent({ api: [9090], web: [81] }), observed({ rules: [r('api', 9090), r('web', 80)] }));
    expect(plan.apps.every((p) => p.actions.length === 0)).toBe(true);
    expect(plan.node).toEqual([
      { action: { kind: 'sync-chain', family: 'ipv4', chain: 'PLATYPUS', lines: [r('api', 9090).line, r('web', 81).line] }, apps: ['web'] },
    ]);
  });

  it('serves every app with rules when the jump is missing; reports no open port meanwhile', () => {
    const plan = planNative(nodeIntent({ api: [9090], web: [80] }), observed({ rules: [r('api', 9090), r('web', 80)], jumps: 0 }));
    expect(plan.node.map((n) => n.apps)).toEqual([['api', 'web']]);
    expect(byApp(plan).web!.details).toEqual({ open: [] });
  });

  it("removes a removed app and keeps an invalid app's rules, which the write does not serve", () => {
    const plan = planNative(nodeIntent({ web: INVALID, api: [9090] }), observed({ rules: [r('old', 1), r('web', 80)] }));
    expect(plan.node).toEqual([
      { action: expect.objectContaining({ lines: [r('api', 9090).line, r('web', 80).line] }), apps: ['api', 'old'] },
    ]);
    expect(Object.keys(byApp(plan)).sort()).toEqual(['api', 'old', 'web']);
  });

  it('writes both families, each once, serving the apps whose rules differ in it', () => {
    const obs = observed({ rules: [r('api', 9090), r('web', 80)] });
    obs.families.push({ family: 'ipv6', state: { exists: true, rules: [r('api', 9090)], jumps: 1 } });
    const plan = planNative(nodeIntent({ api: [9090], web: [80] }), obs);
    expect(plan.node.map((n) => [n.action.family, n.apps])).toEqual([['ipv6', ['web']]]);
  });

  it('plans no action and fails every app when a family cannot be read', () => {
    const obs = observed({ rules: [r('web', 80)] });
    obs.families.push({ family: 'ipv6', state: { exists: false, rules: [], jumps: 0 }, error: 'cannot read the ipv6 filter table: boom' });
    const plan = planNative(nodeIntent({ web: [81], bad: INVALID }), obs);
    expect(plan.node).toEqual([]);
    expect(plan.apps.map((p) => [p.app, p.actions.length, p.error])).toEqual([
      ['bad', 0, 'cannot read the ipv6 filter table: boom'],
      ['web', 0, 'cannot read the ipv6 filter table: boom'],
    ]);
  });

  it('plans no action and fails every app when the chain holds a rule without our tag; rules with it are ours', () => {
    const ssh = { line: '-A PLATYPUS -p tcp -m tcp --dport 22 -j ACCEPT' };
    const plan = planNative(nodeIntent({ web: [80], bad: INVALID }), observed({ rules: [r('web', 80), ssh] }));
    expect(plan.node).toEqual([]);
    expect(plan.apps.map((p) => [p.app, p.actions.length])).toEqual([
      ['bad', 0],
      ['web', 0],
    ]);
    expect(plan.apps[1]!.error).toBe(
      'chain PLATYPUS (ipv4) holds 1 rule(s) not written by pp-iptables, e.g. -A PLATYPUS -p tcp -m tcp --dport 22 -j ACCEPT: ' +
        'refusing to take it over; --chain must name a chain that is empty or holds only rules tagged "platypus:<app>"',
    );
    const stray = { line: '-A PLATYPUS -p tcp -m tcp --dport 1 -m comment --comment platypus:web -j DROP' };
    const repaired = planNative(nodeIntent({ web: [80] }), observed({ rules: [r('web', 80), stray] }));
    expect(repaired.apps[0]!.error).toBeUndefined();
    expect(repaired.node).toEqual([{ action: expect.objectContaining({ lines: [r('web', 80).line] }), apps: ['web'] }]);
  });

  it('adds no chain or jump when no app has a port', () => {
    expect(planNative(nodeIntent({ web: [] }), observed({ exists: false, jumps: 0 })).node).toEqual([]);
  });
});

describe('restoreInput', () => {
  it('flushes and refills only our chain, inserting the jump first when missing, never declaring a built-in chain', () => {
    const text = restoreInput('PLATYPUS', ['-A PLATYPUS -j ACCEPT'], { exists: false, rules: [], jumps: 0 });
    expect(text).toBe('*filter\n:PLATYPUS - [0:0]\n-F PLATYPUS\n-A PLATYPUS -j ACCEPT\n-I INPUT 1 -j PLATYPUS\nCOMMIT\n');
  });

  it('deletes extra jumps down to one', () => {
    const text = restoreInput('PLATYPUS', [], { exists: true, rules: [], jumps: 3 });
    expect(text.split('\n').filter((l) => l === '-D INPUT -j PLATYPUS')).toHaveLength(2);
    expect(text).not.toContain('-I INPUT');
  });
});
