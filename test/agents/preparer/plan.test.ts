import { describe, expect, it } from 'vitest';
import { planPreparer } from '../../../agents/preparer/plan.js';
import { type BasedirState, type InstallDir, PREPARER_REMOVALS, type PreparerObserved } from '../../../agents/preparer/types.js';
import { admitPlans } from '../../../shared/loop/admit.js';
import type { NodeIntent } from '../../../shared/intent/node-intent.js';
import { parseAppIntent, type AppIntent } from '../../../shared/intent/schema.js';

const SHA = (c: string) => c.repeat(64);
const BASE = '/srv/apps';

function app(versions: Array<[string, string, 'live' | 'prepared']>, basedir = BASE): AppIntent {
  return parseAppIntent({
    schema: 1,
    basedir,
    service: { command: ['bin/run'] },
    versions: versions.map(([version, sha, state]) => ({ version, url: `https://a.example/${version}.tgz`, sha256: SHA(sha), state })),
  });
}

function intent(apps: Record<string, AppIntent>, invalid: Record<string, string> = {}): NodeIntent {
  const a = new Map(Object.entries(apps));
  const i = new Map(Object.entries(invalid));
  return { node: 'n1', index: 1, apps: a, invalid: i, drained: false, trusted: a.size > 0 || i.size > 0 };
}

function installs(list: Array<[string, string | undefined, string]>): Map<string, InstallDir> {
  return new Map(
    list.map(([name, sha, at]) => [name, { name, isDir: true, sha256: sha === undefined ? undefined : SHA(sha), installedAt: at }]),
  );
}

function observed(
  state: Partial<BasedirState>,
  knownApps: Record<string, string> = {},
  failures: Record<string, Record<string, string>> = {},
): PreparerObserved {
  return {
    basedirs: new Map([[BASE, { installs: new Map(), orphanRecords: [], leftovers: [], ...state }]]),
    knownApps: new Map(Object.entries(knownApps)),
    formerBasedirs: new Map(),
    failures: new Map(Object.entries(failures).map(([a, f]) => [a, new Map(Object.entries(f))])),
  };
}

const kinds = (plan: { actions: Array<{ kind: string; version?: string; name?: string }> }) =>
  plan.actions.map((a) => `${a.kind} ${a.version ?? a.name}`);

describe('planPreparer', () => {
  it('installs missing versions live first and reports what is present, pending and failing', () => {
    const i = intent({
      web: app([
        ['1', 'a', 'prepared'],
        ['2', 'b', 'prepared'],
        ['3', 'c', 'live'],
      ]),
    });
    const [plan] = planPreparer(i, observed({ installs: installs([['web_1', 'a', '2024-01-01']]) }, {}, { web: { 2: 'HTTP 500' } }), 2);
    expect(plan?.version).toBe('3');
    expect(kinds(plan!)).toEqual(['install 3', 'install 2']);
    const [retry] = planPreparer(i, observed({}, {}, { web: { 3: 'sha256 mismatch' } }), 2);
    expect(kinds(retry!)).toEqual(['install 1', 'install 2', 'install 3']); // a failing version goes last
    expect(plan?.details).toEqual({
      basedir: '/srv/apps',
      present: ['1'],
      current: null,
      kept: [],
      failures: { 2: 'HTTP 500' },
      pending: { 2: 'retrying after: HTTP 500', 3: 'to install from https://a.example/3.tgz' },
    });
  });

  it('replaces an install of another digest, but reports an error instead when it is current', () => {
    const i = intent({
      web: app([
        ['1', 'a', 'live'],
        ['2', 'b', 'prepared'],
      ]),
    });
    const [plan] = planPreparer(
      i,
      observed({
        installs: installs([
          ['web_1', 'f', '2024-01-01'],
          ['web_2', undefined, '2024-01-02'],
        ]),
        current: 'web_1',
      }),
      2,
    );
    expect(kinds(plan!)).toEqual(['install 2']);
    expect(plan?.actions[0]).toMatchObject({ replaces: 'has no install record' });
    expect(plan?.error).toBe(
      `version 1: ${BASE}/installs/web_1 was made from sha256 ${SHA('f')}, expected sha256 ${SHA('a')}; it is current, so it is not replaced in place (publish a new version, or point current elsewhere)`,
    );
  });

  it("prunes by install time, keeping current and the newest --keep others, never another app's installs in a shared basedir", () => {
    const i = intent({ web: app([['9', 'a', 'live']]), web_a: app([['1', 'a', 'live']]) }, { web_b: 'invalid intent at key …' });
    const state = {
      installs: installs([
        ['web_9', 'a', '2024-01-09'],
        ['web_1', 'a', '2024-01-08'],
        ['web_2', 'a', '2024-01-01'],
        ['web_3', 'a', '2024-01-05'],
        ['web_4', 'a', '2024-01-04'],
        ['web_a_1', 'a', '2024-01-01'],
        ['web_a_0', 'a', '2024-01-01'],
        ['web_b_1', 'a', '2024-01-01'],
      ]),
      current: 'web_2',
      orphanRecords: ['web_7', 'web_a_7'],
    };
    const plans = planPreparer(i, observed(state), 1);
    const web = plans.find((p) => p.app === 'web');
    expect(kinds(web!)).toEqual(['prune web_3', 'prune web_4', 'prune web_7']);
    expect(web?.details).toMatchObject({ present: ['9'], current: 'web_2', kept: ['web_1', 'web_2'] });
    expect(kinds(plans.find((p) => p.app === 'web_a')!)).toEqual(['prune web_a_7']); // web_a_0 is its newest other install
    expect(plans.map((p) => p.app)).toEqual(['web', 'web_a']); // nothing planned for the invalid web_b
  });

  it('prunes an app gone from trusted intent, but nothing at all when the intent is untrusted (the removal is reported waiting)', () => {
    const state = {
      installs: installs([
        ['api_1', 'a', '2024-01-01'],
        ['api_2', 'a', '2024-01-02'],
        ['web_1', 'a', '2024-01-01'],
      ]),
    };
    const gone = planPreparer(intent({ web: app([['1', 'a', 'live']]) }), observed(state, { api: BASE, web: BASE }), 1);
    expect(gone.map((p) => [p.app, kinds(p)])).toEqual([
      ['web', []],
      ['api', ['prune api_1']],
    ]);
    const empty = intent({});
    const untrusted = admitPlans(PREPARER_REMOVALS, empty, planPreparer(empty, observed(state, { api: BASE, web: BASE }), 0));
    expect(untrusted.map((a) => [a.plan.app, a.actions, a.held?.startsWith('removal waits: ')])).toEqual([
      ['api', [], true],
      ['web', [], true],
    ]);
  });

  it("reports a basedir it cannot read as the app's error", () => {
    const [plan] = planPreparer(intent({ web: app([['1', 'a', 'live']]) }), observed({ error: `cannot read ${BASE}/installs: EACCES` }), 2);
    expect(plan).toMatchObject({ app: 'web', actions: [], error: `cannot read ${BASE}/installs: EACCES` });
  });
});
