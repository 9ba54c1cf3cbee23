import { describe, expect, it } from 'vitest';
import { type AppFacts, appVerdict } from '../../../shared/loop/app-status.js';

const all: Required<AppFacts> = {
  invalid: 'bad intent',
  retrying: true,
  inFlight: 'applying: write web=1',
  failed: 'cannot write',
  planError: 'bad port',
  pending: 'waiting for install of 1',
  notYet: 'waiting for a rollout slot',
  held: 'removal waits: no signed removal',
  notStable: 'not stable after 5 iterations',
  toDo: 'write web=1',
  warning: 'installs not pruned',
};

describe('the status of an app', () => {
  // Each row drops every fact before it: the row's fact decides, whatever follows it.
  const rows: [keyof AppFacts, ReturnType<typeof appVerdict>][] = [
    ['invalid', { status: 'failed', error: 'bad intent' }],
    // A retry in flight of the failure booked for the same intent: the failure stands, the retry is the reason.
    ['retrying', { status: 'failed', error: 'cannot write', reason: 'retrying: applying: write web=1' }],
    ['inFlight', { status: 'pending', reason: 'applying: write web=1' }],
    ['failed', { status: 'failed', error: 'cannot write' }],
    ['planError', { status: 'failed', error: 'bad port' }],
    ['pending', { status: 'pending', reason: 'waiting for install of 1' }],
    ['notYet', { status: 'pending', reason: 'waiting for a rollout slot' }],
    ['held', { status: 'pending', reason: 'removal waits: no signed removal' }],
    ['notStable', { status: 'pending', reason: 'not stable after 5 iterations' }],
    ['toDo', { status: 'pending', reason: 'to do: write web=1' }],
    ['warning', { status: 'converged', reason: 'installs not pruned' }],
  ];
  it.each(rows.map(([fact, verdict], i) => [fact, verdict, i] as const))('%s beats every fact after it', (_fact, verdict, i) => {
    const facts = Object.fromEntries(Object.entries(all).slice(i)) as AppFacts;
    expect(appVerdict(facts)).toEqual(verdict);
  });

  it('is converged when nothing is known against it', () => {
    expect(appVerdict({})).toEqual({ status: 'converged' });
  });
});
