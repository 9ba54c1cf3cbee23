import { describe, expect, it } from 'vitest';
import { flippedIntent, parseNodes, stagedIntent, summaryLine, type DeployPlan, type RawIntent } from '../../pp/deploy/analyze.js';
import { flipState, revertState, stageState } from '../../pp/deploy/follow.js';
import { parsePpArgs } from '../../pp/command-line.js';
import type { RealityRecord } from '../../shared/loop/types.js';

const v = (version: string, state: string) => ({ version, url: `file:///a/${version}.tar.gz`, sha256: 'a'.repeat(64), state });
const spec = (live: string): RawIntent => ({
  schema: 1,
  basedir: '/srv/hello',
  versions: [v(live, 'live')],
  service: { command: ['bin/x'] },
});
const x = { app: 'hello', version: '2.0', sha256: 'a'.repeat(64) };
const rec = (fields: Partial<RealityRecord>): RealityRecord =>
  ({ agent: 'setlive', app: 'hello', status: 'converged', attempts: 0, at: '2026-12-02T08:00:00Z', ...fields }) as RealityRecord;

describe('the intents pp deploy writes', () => {
  it('stages only the new entry, prepared, beside the running version and its service', () => {
    const current = { ...spec('1.0'), service: { command: ['bin/old'] } };
    expect(stagedIntent(spec('2.0'), current, '2.0')).toEqual({ ...current, versions: [v('1.0', 'live'), v('2.0', 'prepared')] });
    expect(stagedIntent(spec('2.0'), undefined, '2.0')).toEqual({ ...spec('2.0'), versions: [v('2.0', 'prepared')] });
  });

  it('flips to the spec with the version live before kept as prepared', () => {
    expect(flippedIntent(spec('2.0'), spec('1.0')).versions).toEqual([v('2.0', 'live'), v('1.0', 'prepared')]);
    expect(flippedIntent(spec('2.0'), undefined).versions).toEqual([v('2.0', 'live')]);
  });

  it('reads node names from a list or stdin lines, and refuses a name that could not be a key', () => {
    expect(parseNodes('web1\nweb2\n\n# spare\nweb1\n', /\r?\n/)).toEqual(['web1', 'web2']);
    expect(() => parseNodes('web1,../etc', /,/)).toThrow(/node/);
  });

  it('summarises the plan per kind of change', () => {
    const node = (name: string, action: string, from?: string) => ({ node: name, action, from, warnings: [] }) as never;
    const plan = {
      app: 'hello',
      version: '1.5.0',
      warnings: ["web9's setlive last reported 3 h ago"],
      nodes: [node('a', 'flip', '1.4.0'), node('b', 'flip', '1.4.0'), node('c', 'first-install'), node('d', 'unchanged')],
    } as unknown as DeployPlan;
    expect(summaryLine(plan)).toBe('4 nodes: 2 flip hello 1.4.0 → 1.5.0, 1 first install, 1 unchanged; warnings: 1');
  });
});

describe('following reality', () => {
  it('staging is done once the preparer reports the version present, failed on its failure', () => {
    expect(stageState('w', rec({ agent: 'preparer', details: { present: ['1.0', '2.0'] } }), x).state).toBe('done');
    expect(
      stageState('w', rec({ agent: 'preparer', details: { present: ['1.0'], failures: { '2.0': 'sha256 mismatch' } } }), x),
    ).toMatchObject({ state: 'failed', note: 'preparer: sha256 mismatch' });
    expect(stageState('w', undefined, x).state).toBe('waiting');
  });

  it('a flip is done on the version converged with current on it; a verdict counts once setlive reports its rollback', () => {
    expect(flipState('w', rec({ version: '2.0', details: { current: '2.0' } }), undefined, x).state).toBe('done');
    expect(flipState('w', rec({ version: '1.0', details: { current: '1.0' } }), undefined, x).state).toBe('waiting');
    expect(flipState('w', rec({ version: '2.0', status: 'pending', details: { current: '2.0' } }), 'HTTP 503', x).state).toBe('busy');
    expect(
      flipState('w', rec({ version: '2.0', status: 'failed', error: 'rolled back', details: { current: '1.0' } }), 'HTTP 503', x).state,
    ).toBe('failed');
  });
});

describe('records that answer another intent than the one the deploy wrote (by intentDigest)', () => {
  const now = 'd'.repeat(64);
  const older = 'e'.repeat(64);
  const y = { ...x, digests: new Map([['w', now]]) };
  const live = { version: '2.0', details: { current: '2.0' } };

  it('count neither as done nor as failed', () => {
    expect(flipState('w', rec({ ...live, intentDigest: older }), undefined, y)).toMatchObject({ state: 'waiting' });
    expect(flipState('w', rec({ ...live, status: 'failed', error: 'boom', intentDigest: older }), undefined, y).state).toBe('waiting');
    expect(stageState('w', rec({ agent: 'preparer', details: { present: ['2.0'] }, intentDigest: older }), y).state).toBe('waiting');
    expect(
      stageState('w', rec({ agent: 'preparer', details: { failures: { '2.0': 'sha256 mismatch' } }, intentDigest: older }), y).state,
    ).toBe('waiting');
    expect(revertState('w', rec({ version: '1.0', details: { current: '1.0' }, intentDigest: older }), '1.0', y).state).toBe('waiting');
    // A verdict on the version with a record of the intent before: it has not rolled back from this deploy's flip yet.
    expect(flipState('w', rec({ ...live, status: 'failed', intentDigest: older }), 'HTTP 503', y).state).toBe('busy');
  });

  it('count once they name the digest written; a record without a digest (an older agent) is judged by its version', () => {
    expect(flipState('w', rec({ ...live, intentDigest: now }), undefined, y).state).toBe('done');
    expect(flipState('w', rec({ ...live, status: 'failed', error: 'boom', intentDigest: now }), undefined, y).state).toBe('failed');
    expect(stageState('w', rec({ agent: 'preparer', details: { present: ['2.0'] }, intentDigest: now }), y).state).toBe('done');
    expect(revertState('w', rec({ version: '1.0', details: { current: '1.0' }, intentDigest: now }), '1.0', y).state).toBe('done');
    expect(flipState('w', rec(live), undefined, y).state).toBe('done');
    // Another node's digest says nothing about this one.
    expect(flipState('v', rec({ ...live, intentDigest: older }), undefined, y).state).toBe('done');
  });
});

describe('the deploy command words', () => {
  it('tell pp deploy <app> from pp deploy history|resume|follow <app>', () => {
    const run = (argv: string[]) => {
      const i = parsePpArgs(argv);
      return i.kind === 'run' ? `${i.command.path}:${String(i.args.app)}:${String(i.args.timeout)}` : i.kind;
    };
    expect(run(['deploy', 'hello', '--file', 's.json', '--all', '--timeout', '5'])).toBe('deploy:hello:5');
    expect(run(['deploy', 'history', 'hello'])).toBe('deploy history:hello:undefined');
    expect(run(['deploy', 'resume', 'hello', '--timeout', '60'])).toBe('deploy resume:hello:60');
    expect(run(['--prefix', 'p', 'deploy', 'follow', 'hello', '--timeout', '1', '--store', 'folder:/x'])).toBe('deploy follow:hello:1');
    expect(run(['rollback', 'hello', '--yes'])).toBe('rollback:hello:1800');
    expect(run(['deploy'])).toBe('usage');
  });
});
