import { describe, expect, it } from 'vitest';
import { restoreInput } from '../../../agents/iptables/apply.js';
import { planNative, type NativeObserved } from '../../../agents/iptables/plan.js';
import { ruleLine, type ChainState } from '../../../agents/iptables/rules.js';
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
const byApp = (plans: ReturnType<typeof planNative>) => Object.fromEntries(plans.map((p) => [p.app, p]));

describe('planNative', () => {
  it('plans nothing at all when the intent is untrusted', () => {
    expect(planNative(nodeIntent({}), observed({ rules: [r('web', 80)] }))).toEqual([]);
  });

  it('plans no action when the chain already matches, and reports open ports', () => {
    const plans = byApp(planNative(nodeIntent({ web: [80, 443] }), observed({ rules: [r('web', 80), r('web', 443)] })));
    expect(plans.web).toMatchObject({ actions: [], details: { open: ['80/tcp', '443/tcp'] } });
  });

  it('gives the sync action only to the app that changed, with the whole chain in it', () => {
    const plans = byApp(planNative(nodeIntent({ api: [9090], web: [81] }), observed({ rules: [r('api', 9090), r('web', 80)] })));
    expect(plans.api!.actions).toEqual([]);
    expect(plans.web!.actions).toEqual([
      { kind: 'sync-chain', family: 'ipv4', chain: 'PLATYPUS', lines: [r('api', 9090).line, r('web', 81).line] },
    ]);
  });

  it('involves every app with rules when the jump is missing; reports no open port meanwhile', () => {
    const plans = byApp(planNative(nodeIntent({ api: [9090], web: [80] }), observed({ rules: [r('api', 9090), r('web', 80)], jumps: 0 })));
    expect(plans.api!.actions).toHaveLength(1);
    expect(plans.web!.actions).toHaveLength(1);
    expect(plans.web!.details).toEqual({ open: [] });
  });

  it("removes a removed app and keeps an invalid app's rules", () => {
    const plans = byApp(planNative(nodeIntent({ web: INVALID, api: [9090] }), observed({ rules: [r('old', 1), r('web', 80)] })));
    expect(plans.old!.actions[0]).toMatchObject({ lines: [r('api', 9090).line, r('web', 80).line] });
    expect(plans.web!.actions).toEqual([]);
  });

  it('plans no action and fails every app when a family cannot be read', () => {
    const obs = observed({ rules: [r('web', 80)] });
    obs.families.push({ family: 'ipv6', state: { exists: false, rules: [], jumps: 0 }, error: 'cannot read the ipv6 filter table: boom' });
    const plans = planNative(nodeIntent({ web: [81], bad: INVALID }), obs);
    expect(plans.map((p) => [p.app, p.actions.length, p.error])).toEqual([
      ['bad', 0, 'cannot read the ipv6 filter table: boom'],
      ['web', 0, 'cannot read the ipv6 filter table: boom'],
    ]);
  });

  it('plans no action and fails every app when the chain holds a rule without our tag; rules with it are ours', () => {
    const ssh = { line: '-A PLATYPUS -p tcp -m tcp --dport 22 -j ACCEPT' };
    const plans = planNative(nodeIntent({ web: [80], bad: INVALID }), observed({ rules: [r('web', 80), ssh] }));
    expect(plans.map((p) => [p.app, p.actions.length])).toEqual([
      ['bad', 0],
      ['web', 0],
    ]);
    expect(plans[1]!.error).toBe(
      'chain PLATYPUS (ipv4) holds 1 rule(s) not written by pp-iptables, e.g. -A PLATYPUS -p tcp -m tcp --dport 22 -j ACCEPT: ' +
        'refusing to take it over; --chain must name a chain that is empty or holds only rules tagged "platypus:<app>"',
    );
    const stray = { line: '-A PLATYPUS -p tcp -m tcp --dport 1 -m comment --comment platypus:web -j DROP' };
    expect(planNative(nodeIntent({ web: [80] }), observed({ rules: [r('web', 80), stray] }))[0]).toMatchObject({
      error: undefined,
      actions: [{ lines: [r('web', 80).line] }],
    });
  });

  it('adds no chain or jump when no app has a port', () => {
    expect(planNative(nodeIntent({ web: [] }), observed({ exists: false, jumps: 0 }))[0]!.actions).toEqual([]);
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
