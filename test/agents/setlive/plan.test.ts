import { describe, expect, it } from 'vitest';
import { type AwaitHealthAction, SETLIVE_REMOVALS, type SetliveAction } from '../../../agents/setlive/actions.js';
import type { SetliveConfig } from '../../../agents/setlive/options.js';
import { runsOldSetup, type AppObserved, type SetliveObserved } from '../../../agents/setlive/observe.js';
import { flipFingerprint } from '../../../agents/setlive/failed-flip.js';
import { planSetlive } from '../../../agents/setlive/plan.js';
import { renderServiceFiles } from '../../../agents/setlive/service-files.js';
import type { SvStatus } from '../../../agents/setlive/runsv-status.js';
import type { NodeIntent } from '../../../shared/intent/node-intent.js';
import { admitPlans } from '../../../shared/loop/admit.js';
import { parseAppIntent, type AppIntent } from '../../../shared/intent/schema.js';
import { intentFor } from './helpers.js';

const config: SetliveConfig = {
  chpst: '/usr/bin/chpst',
  svlogd: 'svlogd',
  serviceDir: '/service',
  stageDir: '/stage',
  settleMs: 1000,
  stopTimeoutMs: 5000,
  startTimeoutMs: 30_000,
  pickupTimeoutMs: 20_000,
  failedHoldMs: 600_000,
};
const inst = (app: string, v: string) => `/srv/${app}/installs/${app}_${v}`;
const link = (target?: string) => (target ? { kind: 'link' as const, target, valid: true } : { kind: 'missing' as const, valid: false });
const running = (seconds = 5): SvStatus => ({
  state: 'run',
  pid: 42,
  seconds,
  sinceMs: Date.now() - seconds * 1000,
  wantUp: false,
  wantDown: false,
  text: `run: (pid 42) ${seconds}s`,
});
const down: SvStatus = { state: 'down', seconds: 3, wantUp: false, wantDown: false, text: 'down: 3s' };

function appIntent(app: string, o: Parameters<typeof intentFor>[2]): AppIntent {
  return parseAppIntent(intentFor(`/srv/${app}`, 8080, o));
}

function nodeOf(apps: Record<string, AppIntent>, extra: Partial<NodeIntent> = {}): NodeIntent {
  return { node: 'n1', index: 1, apps: new Map(Object.entries(apps)), invalid: new Map(), drained: false, trusted: true, ...extra };
}

/** What the host looks like when `app` runs `version` exactly as intended (service folder, link, health). */
function liveState(app: string, intent: AppIntent, version: string, over: Partial<AppObserved> = {}): AppObserved {
  const files = renderServiceFiles(app, intent, config);
  return {
    staged: true,
    ownership: 'marked',
    current: link(inst(app, version)),
    last: link(),
    installed: true,
    runScript: files.run,
    logRunScript: files.logRun,
    runMode: 0o755,
    logRunMode: 0o755,
    logMain: true,
    link: link(`/stage/${app}`),
    status: running(),
    confirmed: inst(app, version),
    probe: { ok: true, output: 'HTTP 200' },
    temps: [],
    stale: false,
    ...over,
  };
}

function plan(node: NodeIntent, apps: Record<string, AppObserved>) {
  const observed: SetliveObserved = { apps: new Map(Object.entries(apps)), stageLeftovers: [], foreign: [] };
  return planSetlive(node, observed, config);
}

const kinds = (actions: SetliveAction[]) => actions.map((a) => a.kind);
const awaitOf = (actions: SetliveAction[]) => actions.find((a): a is AwaitHealthAction => a.kind === 'await-health');

describe('planSetlive', () => {
  const web2 = appIntent('web', { live: '2', prepared: ['1'] });

  it('does nothing when the intended version is current, up, settled and healthy; only records it when unconfirmed', () => {
    expect(plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2') })[0]).toMatchObject({ app: 'web', version: '2', actions: [] });
    const unconfirmed = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { confirmed: undefined }) })[0];
    expect(kinds(unconfirmed?.actions ?? [])).toEqual(['confirm']);
  });

  it('sets a drifted script mode back without a restart, also during a flip', () => {
    const drifted = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { runMode: 0o644 }) })[0];
    expect(drifted?.actions).toEqual([
      { kind: 'write-service', app: 'web', dir: '/stage/web', ...renderServiceFiles('web', web2, config) },
    ]);
    const logDrifted = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { logRunMode: 0o600, confirmed: undefined }) })[0];
    expect(kinds(logDrifted?.actions ?? [])).toEqual(['write-service', 'confirm']);
    const flip = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '1', { runMode: 0o644 }) })[0];
    expect(kinds(flip?.actions ?? [])).toEqual(['stop', 'write-service', 'swap-current', 'start', 'await-health', 'confirm']);
  });

  it('waits for the install of the live version', () => {
    const p = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '1', { installed: false }) })[0];
    expect(p).toMatchObject({ actions: [], pending: 'waiting for install of 2' });
  });

  it('flips a running version: stop first, then swap, start, await health with rollback to the old one', () => {
    const p = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '1', { last: link(inst('web', '0')) }) })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['stop', 'swap-current', 'start', 'await-health', 'confirm']);
    expect(awaitOf(p?.actions ?? [])).toMatchObject({ rollbackTo: inst('web', '1'), timeoutMs: 8000 });
  });

  describe('with a rollout policy', () => {
    const paced = { ...web2, rollout: { maxParallel: 2, minHealthySeconds: 30, maxFailures: 1 } };
    const verdict = {
      node: 'web3',
      version: '2',
      sha256: 'ab'.repeat(32),
      at: '2026-12-02T10:00:00.000Z',
      output: 'GET /health: HTTP 503',
    };

    it('takes a slot before stopping a running version, holds it healthy for minHealthySeconds, then gives it back', () => {
      const p = plan(nodeOf({ web: paced }), { web: liveState('web', paced, '1', { verdicts: [] }) })[0];
      expect(kinds(p?.actions ?? [])).toEqual(['acquire-slot', 'stop', 'swap-current', 'start', 'await-health', 'confirm', 'release-slot']);
      expect(p?.actions[0]).toMatchObject({ limit: 2, maxFailures: 1, fingerprint: flipFingerprint(paced, '2') });
      expect(awaitOf(p?.actions ?? [])?.minHealthyMs).toBe(30_000);
    });

    it('takes no slot for a first start or a flip already past its stop; a slot still held is given back', () => {
      const cut = liveState('web', paced, '2', { last: link(inst('web', '1')), status: down, probe: undefined, confirmed: undefined });
      expect(kinds(plan(nodeOf({ web: paced }), { web: cut })[0]?.actions ?? [])).toEqual(['start', 'await-health', 'confirm']);
      const holding = plan(nodeOf({ web: paced }), { web: { ...cut, slotHeld: true } })[0];
      expect(kinds(holding?.actions ?? [])).toEqual(['start', 'await-health', 'confirm', 'release-slot']);
      const done = plan(nodeOf({ web: paced }), { web: liveState('web', paced, '2', { slotHeld: true }) })[0];
      expect(kinds(done?.actions ?? [])).toEqual(['release-slot']);
    });

    it('does not stop its running version once maxFailures nodes failed the attempt, naming them', () => {
      const p = plan(nodeOf({ web: paced }), { web: liveState('web', paced, '1', { verdicts: [verdict] }) })[0];
      expect(p?.actions).toEqual([]);
      expect(p?.error).toBe(
        'version 2 (sha256 abababababab…) failed its health check on 1 node (web3: GET /health: HTTP 503); not tried here',
      );
      const two = { ...paced, rollout: { ...paced.rollout, maxFailures: 2 } };
      expect(kinds(plan(nodeOf({ web: two }), { web: liveState('web', two, '1', { verdicts: [verdict] }) })[0]?.actions ?? [])).toContain(
        'stop',
      );
    });

    it('waits, changing nothing, while the verdicts cannot be read', () => {
      const p = plan(nodeOf({ web: paced }), {
        web: liveState('web', paced, '1', { verdictError: 'cannot read the verdicts on 2 from the store: 500' }),
      })[0];
      expect(p).toMatchObject({ actions: [], pending: 'cannot read the verdicts on 2 from the store: 500' });
    });
  });

  it('holds a flip whose same attempt failed recently, leaving the running version alone; a flip cut short after the swap goes on', () => {
    const held = 'this version failed at … unless its intent changes: HTTP 503';
    const p = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '1', { held }) })[0];
    expect(p).toMatchObject({ actions: [], error: `2: ${held}` });
    const cut = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { held, status: down, confirmed: undefined }) })[0];
    expect(kinds(cut?.actions ?? [])).toEqual(['start', 'await-health', 'confirm']);
    expect(awaitOf(cut?.actions ?? [])?.fingerprint).toBe(flipFingerprint(web2, '2'));
  });

  it('finishes the rollback of a held attempt killed midway instead of retrying it, and starts the version it went back to', () => {
    const held = 'this version failed at … unless its intent changes: HTTP 503';
    // Killed before `current` was back: the rollback is finished, never the flip retried.
    const stuck = liveState('web', web2, '2', {
      held,
      heldRollbackTo: inst('web', '1'),
      status: down,
      confirmed: undefined,
      probe: undefined,
    });
    const p = plan(nodeOf({ web: web2 }), { web: stuck })[0];
    expect(p).toMatchObject({
      error: `2: ${held}`,
      actions: [{ kind: 'roll-back', to: inst('web', '1'), target: inst('web', '2'), restart: true }],
    });
    // Killed after `current` was back but before the start: the version it went back to is started.
    const back = liveState('web', web2, '1', { held, heldRollbackTo: inst('web', '1'), status: down });
    const q = plan(nodeOf({ web: web2 }), { web: back })[0];
    expect(q).toMatchObject({ error: `2: ${held}`, actions: [{ kind: 'roll-back', to: inst('web', '1'), restart: false }] });
    // Back, settled and healthy: nothing to do but report the hold.
    expect(plan(nodeOf({ web: web2 }), { web: { ...back, status: running() } })[0]).toMatchObject({ actions: [], error: `2: ${held}` });
  });

  it('counts a rollback done only once the version it went back to has settled and passes its check', () => {
    const held = 'this version failed at … unless its intent changes: HTTP 503';
    const back = liveState('web', web2, '1', { held, heldRollbackTo: inst('web', '1') });
    const awaited = { actions: [{ kind: 'roll-back', to: inst('web', '1'), restart: false }], error: `2: ${held}` };
    // Started by a run killed right after, and not settled yet (so not probed either).
    expect(plan(nodeOf({ web: web2 }), { web: { ...back, status: running(0), probe: undefined } })[0]).toMatchObject(awaited);
    // Settled, but not answering its check.
    const failing = { ok: false, output: 'GET http://127.0.0.1:8080/health: ECONNREFUSED' };
    expect(plan(nodeOf({ web: web2 }), { web: { ...back, probe: failing } })[0]).toMatchObject(awaited);
    // Without a check, settled is enough.
    const noCheck = appIntent('web', { live: '2', prepared: ['1'], noHealth: true });
    const bare = liveState('web', noCheck, '1', { held, heldRollbackTo: inst('web', '1'), probe: undefined });
    expect(plan(nodeOf({ web: noCheck }), { web: bare })[0]).toMatchObject({ actions: [], error: `2: ${held}` });
  });

  it('deploys a first version: service folder, swap, link, start, and nothing to roll back to', () => {
    const fresh: AppObserved = {
      ...liveState('web', web2, '2'),
      staged: false,
      ownership: 'missing',
      current: link(),
      runScript: undefined,
      logRunScript: undefined,
      runMode: undefined,
      logRunMode: undefined,
      logMain: false,
      link: link(),
      status: { ...down, state: 'unsupervised' },
      confirmed: undefined,
      probe: undefined,
    };
    const p = plan(nodeOf({ web: web2 }), { web: fresh })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['write-service', 'swap-current', 'link-service', 'start', 'await-health', 'confirm']);
    expect(awaitOf(p?.actions ?? [])?.rollbackTo).toBeUndefined();
  });

  it('finishes a flip cut short after the swap, still rolling back to last; restarts a proven version without rollback', () => {
    const cut = liveState('web', web2, '2', { last: link(inst('web', '1')), confirmed: inst('web', '1'), status: down, probe: undefined });
    const p = plan(nodeOf({ web: web2 }), { web: cut })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['start', 'await-health', 'confirm']);
    expect(awaitOf(p?.actions ?? [])?.rollbackTo).toBe(inst('web', '1'));
    const sick = liveState('web', web2, '2', { last: link(inst('web', '1')), probe: { ok: false, output: 'HTTP 500' } });
    const q = plan(nodeOf({ web: web2 }), { web: sick })[0];
    expect(kinds(q?.actions ?? [])).toEqual(['stop', 'start', 'await-health', 'confirm']);
    expect(awaitOf(q?.actions ?? [])?.rollbackTo).toBeUndefined();
  });

  it('waits for a started version that fails its check but was never confirmed (it may still be booting), with rollback', () => {
    const booting = liveState('web', web2, '2', {
      last: link(inst('web', '1')),
      confirmed: inst('web', '1'),
      probe: { ok: false, output: 'connection refused' },
    });
    const p = plan(nodeOf({ web: web2 }), { web: booting })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['await-health', 'confirm']);
    expect(awaitOf(p?.actions ?? [])?.rollbackTo).toBe(inst('web', '1'));
    // Up longer than its health timeout (8 s here) and still failing: not booting any more, so it is restarted.
    const stuck = liveState('web', web2, '2', { confirmed: undefined, status: running(3600), probe: { ok: false, output: 'HTTP 503' } });
    expect(kinds(plan(nodeOf({ web: web2 }), { web: stuck })[0]?.actions ?? [])).toEqual(['stop', 'start', 'await-health', 'confirm']);
  });

  it('waits while a started service has not been up for the settle time yet, without restarting it', () => {
    const p = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { status: running(0), probe: undefined }) })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['await-health', 'confirm']);
  });

  it('restarts a process that started before current or its run script last changed (it runs an old setup)', () => {
    const p = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { stale: true }) })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['stop', 'start', 'await-health', 'confirm']);
  });

  it('rewrites the run script and restarts when only the environment changed', () => {
    const changed = appIntent('web', { live: '2', env: { GREETING: 'hi' } });
    const p = plan(nodeOf({ web: changed }), { web: liveState('web', web2, '2') })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['stop', 'write-service', 'start', 'await-health', 'confirm']);
  });

  it('holds an app until the apps it requires are live and healthy, and names the reason', () => {
    const api = appIntent('api', { live: '1', requires: ['db'] });
    const db = appIntent('db', { live: '1' });
    const apiFresh = liveState('api', api, '0');
    expect(
      plan(nodeOf({ api, db }), { api: apiFresh, db: liveState('db', db, '1', { probe: { ok: false, output: 'HTTP 503' } }) })[0],
    ).toMatchObject({ app: 'api', actions: [], pending: 'waiting for required app db: its health check fails: HTTP 503' });
    expect(kinds(plan(nodeOf({ api, db }), { api: apiFresh, db: liveState('db', db, '1') })[0]?.actions ?? [])).toContain('swap-current');
    expect(plan(nodeOf({ api }), { api: apiFresh })[0]?.pending).toBe("waiting for required app db, which is not in this node's intent");
    const invalid = nodeOf({ api }, { invalid: new Map([['db', 'bad']]) });
    expect(plan(invalid, { api: apiFresh })[0]?.pending).toBe('waiting for required app db, whose intent is invalid');
  });

  it('reports a requires cycle as an error', () => {
    const a = appIntent('a', { live: '1', requires: ['b'] });
    const b = appIntent('b', { live: '1', requires: ['a'] });
    expect(plan(nodeOf({ a, b }), { a: liveState('a', a, '0'), b: liveState('b', b, '0') })[0]?.error).toBe(
      'field requires: cycle a -> b -> a',
    );
  });

  it('refuses to replace a service link or a current that is not its own', () => {
    const p = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '1', { link: link('/etc/sv/web') }) })[0];
    expect(p).toMatchObject({ actions: [], error: '/service/web exists and is not a symlink to /stage/web; refusing to replace it' });
    const q = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '1', { current: { kind: 'other', valid: false } }) })[0];
    expect(q?.error).toBe('/srv/web/current exists and is not a symlink; refusing to replace it');
  });

  it('removes a staged app that is no longer intended; the loop admits that never on untrusted intent nor for an invalid one', () => {
    const old = liveState('old', web2, '1');
    const web = liveState('web', web2, '2');
    const removal = plan(nodeOf({ web: web2 }), { web, old }).find((p) => p.app === 'old');
    expect(kinds(removal?.actions ?? [])).toEqual(['unlink-service', 'exit-service', 'remove-stage']);
    const untrusted = nodeOf({}, { trusted: false, distrust: 'empty' });
    const admitted = admitPlans(SETLIVE_REMOVALS, untrusted, plan(untrusted, { old }));
    expect(admitted.map((a) => [a.plan.app, a.actions, a.held])).toEqual([['old', [], 'removal waits: empty']]);
    const invalid = nodeOf({ web: web2 }, { invalid: new Map([['old', 'bad']]) });
    const held = admitPlans(SETLIVE_REMOVALS, invalid, plan(invalid, { web, old })).find((a) => a.plan.app === 'old');
    expect(held?.actions).toEqual([]);
  });

  it('never touches a stage folder that is not ours: an intended app is refused, an unintended one is no app', () => {
    const foreign = liveState('web', web2, '1', { ownership: 'foreign' });
    const p = plan(nodeOf({ web: web2 }), { web: foreign })[0];
    expect(p).toMatchObject({ actions: [], error: expect.stringContaining('/stage/web was not written by pp-setlive') });
    const none = plan(nodeOf({ web: appIntent('web', { prepared: ['1'] }) }), { web: foreign })[0];
    expect(none?.actions).toEqual([]);
    expect(
      plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2'), sshd: liveState('sshd', web2, '1', { ownership: 'foreign' }) }).map(
        (q) => q.app,
      ),
    ).toEqual(['web']);
  });

  it('adopts a folder of ours without its marker first, without restarting it, and before removing it', () => {
    const live = plan(nodeOf({ web: web2 }), { web: liveState('web', web2, '2', { ownership: 'adoptable' }) })[0];
    expect(kinds(live?.actions ?? [])).toEqual(['adopt-service']);
    const old = plan(nodeOf({ web: web2 }), {
      web: liveState('web', web2, '2'),
      old: liveState('old', web2, '1', { ownership: 'adoptable' }),
    }).find((q) => q.app === 'old');
    expect(kinds(old?.actions ?? [])).toEqual(['adopt-service', 'unlink-service', 'exit-service', 'remove-stage']);
  });

  it('stops the service of an app with no live version, and cleans temp links of a killed swap', () => {
    const none = appIntent('web', { prepared: ['1'] });
    const p = plan(nodeOf({ web: none }), { web: liveState('web', web2, '1', { temps: ['/srv/web/.pp-tmp-current.1.ab'] }) })[0];
    expect(kinds(p?.actions ?? [])).toEqual(['clean-leftovers', 'stop']);
  });
});

describe('service files', () => {
  it('writes a run script that cds into current and execs the command with env, through chpst only for a user', () => {
    const intent = parseAppIntent({
      ...intentFor('/srv/web', 80, { live: '1', env: { B: "it's", A: 'x y' } }),
      service: { command: ['./bin/web', '--port', '80'], env: { B: "it's", A: 'x y' }, user: 'www' },
    });
    const { run, logRun } = renderServiceFiles('web', intent, config);
    expect(run).toContain('exec 2>&1\ncd /srv/web/current || exit 111\n');
    expect(run).toContain(`exec /usr/bin/chpst -u www env 'A=x y' 'B=it'\\''s' ./bin/web --port 80\n`);
    expect(renderServiceFiles('web', appIntent('web', { live: '1' }), config).run).not.toContain('chpst');
    expect(logRun).toBe('#!/bin/sh\nexec svlogd -tt ./main\n');
  });
});

describe('runsOldSetup', () => {
  it('is true only for a running process that started before current or run last changed', () => {
    const up = running(5);
    const started = up.sinceMs!;
    expect(runsOldSetup(up, started + 1)).toBe(true);
    expect(runsOldSetup(up, started - 1)).toBe(false);
    expect(runsOldSetup({ ...down, sinceMs: started }, started + 1)).toBe(false);
    expect(runsOldSetup({ ...up, state: 'finish' }, started + 1)).toBe(false);
  });
});
