import { describe, expect, it } from 'vitest';
import { realityKey } from '../../../shared/keys.js';
import { detailsOf } from '../../../shared/reality/details.js';
import { memoryOf } from '../../../shared/reality/memory.js';
import { decodeEntry, decodeRecord, realityEntries } from '../../../shared/reality/record.js';
import { OLD_PREPARER, OLD_REMOVED } from '../../support/old-records.js';

const KEY = realityKey('p', 'n1', 'preparer', 'web');

const valid = { app: 'web', status: 'converged', attempts: 0, agent: 'preparer', at: '2026-12-07T16:48:28.477Z' };
const decode = (value: unknown) => decodeRecord(KEY, typeof value === 'string' ? value : JSON.stringify(value));
const errorOf = (value: unknown) => {
  const d = decode(value);
  return d.ok ? 'decoded' : d.error;
};

describe('decodeRecord', () => {
  it('reads a record written before `memory`: its memory is details.basedir, details.formerBasedirs and signed', () => {
    const d = decode(OLD_PREPARER);
    if (!d.ok) throw new Error(d.error);
    expect(d.record).toMatchObject({ app: 'web', agent: 'preparer', status: 'converged', version: '2', attempts: 0 });
    expect(memoryOf(d.record)).toEqual({
      basedir: '/tmp/oldrec/new',
      formerBasedirs: ['/tmp/oldrec/old'],
      signed: {
        at: '2026-12-07T16:48:27.982Z',
        by: 'alice (SHA256:HBzkhMHTNp+Ow4PJXa06e8XQJyV6aPDIilgqhuwXQjM)',
        removed: false,
        digest: '303afd11c3552585925ede3a29fdb5fa6364f69239f2571348e75dffeb20e98d',
      },
    });
    expect(detailsOf('preparer', d.record)).toMatchObject({ present: ['2'], current: null, kept: [] });
    const removed = decode(OLD_REMOVED);
    if (!removed.ok) throw new Error(removed.error);
    expect(memoryOf(removed.record)).toEqual({ signed: expect.objectContaining({ removed: true, at: '2026-12-07T16:48:33.205Z' }) });
  });

  it('takes `memory` over what older records carried elsewhere', () => {
    const d = decode({
      ...valid,
      details: { basedir: '/old/place', formerBasedirs: ['/older'] },
      signed: { at: '2026-01-01T00:00:00Z' },
      memory: { basedir: '/srv/web', signed: { at: '2026-02-01T00:00:00Z', removed: false }, later: { kept: 1 } },
    });
    if (!d.ok) throw new Error(d.error);
    // A field another agent's version added to memory is kept as it is.
    expect(memoryOf(d.record)).toEqual({ basedir: '/srv/web', signed: { at: '2026-02-01T00:00:00Z', removed: false }, later: { kept: 1 } });
  });

  it('drops fields it does not know instead of refusing the record', () => {
    const d = decode({ ...valid, addedLater: [1, 2] });
    expect(d.ok && d.record).toEqual(valid);
  });

  const deep = `{"app":"web","details":${'['.repeat(100)}${']'.repeat(100)}}`;
  it.each([
    ['not JSON', '{"app":', /^reality record at key p\/reality\/n1\/preparer\/web: not JSON \(.+\)$/],
    [
      'nested too deep',
      deep,
      /^reality record at key p\/reality\/n1\/preparer\/web: JSON nested deeper than the limit of 64 levels \(level 65 opens at offset \d+\)$/,
    ],
    ['an array', [valid], 'field (top level): expected an object, got array'],
    ['null', null, 'field (top level): expected an object, got null'],
    ['no status', { ...valid, status: undefined }, 'field status: missing: expected one of converged, pending, failed'],
    ['an unknown status', { ...valid, status: 'held' }, 'field status: expected one of converged, pending, failed, got "held"'],
    ['no app', { ...valid, app: undefined }, 'field app: missing: expected a string'],
    [
      'no agent, no time',
      { ...valid, agent: undefined, at: undefined },
      'field agent: missing: expected a string; field at: missing: expected a string',
    ],
    ['a time that is none', { ...valid, at: 'yesterday' }, 'field at: expected an ISO time, got "yesterday"'],
    ['no attempts', { ...valid, attempts: undefined }, 'field attempts: missing: expected a number'],
    ['negative attempts', { ...valid, attempts: -1 }, 'field attempts: expected 0 or more, got -1'],
    ['a reason that is no text', { ...valid, reason: { why: 1 } }, 'field reason: expected a string, got object'],
    ['details as an array', { ...valid, details: ['2'] }, 'field details: expected an object, got array'],
    ['signed.removed as text', { ...valid, signed: { removed: 'yes' } }, 'field signed.removed: expected true or false, got string'],
    [
      'memory.formerBasedirs as text',
      { ...valid, memory: { formerBasedirs: '/old' } },
      'field memory.formerBasedirs: expected an array of strings, got string',
    ],
    [
      'memory.formerBasedirs with a number',
      { ...valid, memory: { formerBasedirs: [7] } },
      'field memory.formerBasedirs[0]: expected a string, got number',
    ],
    ['the app of another key', { ...valid, app: 'api' }, 'field app: expected "web", the app its key names, got "api"'],
    [
      'the agent of another key',
      { ...valid, agent: 'setlive' },
      'field agent: expected "preparer", the agent its key names, got "setlive"',
    ],
  ])('refuses %s, naming the key and why', (_, value, why) => {
    const error = errorOf(value);
    if (why instanceof RegExp) expect(error).toMatch(why);
    else expect(error).toBe(`reality record at key ${KEY}: ${why}`);
  });

  it('names the size limit for an entry too large to be read', () => {
    expect(decodeEntry({ key: KEY, value: '', modifyIndex: 1, tooLarge: 700_000 })).toEqual({
      ok: false,
      error: expect.stringMatching(/^reality record at key p\/reality\/n1\/preparer\/web: value of 700000 bytes, over the /),
    });
  });
});

describe('realityEntries', () => {
  it('places each record by its key and leaves out markers and keys at other depths', () => {
    const entry = (key: string, value: unknown) => ({
      key,
      value: typeof value === 'string' ? value : JSON.stringify(value),
      modifyIndex: 1,
    });
    const found = realityEntries('p', [
      entry(KEY, valid),
      entry(realityKey('p', 'n2', 'setlive', 'api'), { ...valid, app: 'api', agent: 'setlive', status: 'nope' }),
      entry('p/reality/n1/preparer/.heartbeat', { at: valid.at, everySeconds: 300 }),
      entry('p/reality/n1/preparer/web/extra', valid),
      entry('q/reality/n1/preparer/web', valid),
    ]);
    expect(found).toEqual([
      { key: KEY, node: 'n1', agent: 'preparer', app: 'web', record: valid },
      {
        key: 'p/reality/n2/setlive/api',
        node: 'n2',
        agent: 'setlive',
        app: 'api',
        error: 'reality record at key p/reality/n2/setlive/api: field status: expected one of converged, pending, failed, got "nope"',
      },
    ]);
  });
});

describe('detailsOf', () => {
  it("types an agent's details, and gives none for details of the wrong shape", () => {
    expect(detailsOf('setlive', { details: { current: '2', last: null } })).toEqual({ current: '2', last: null });
    expect(detailsOf('setlive', { details: { current: 2 } })).toBeUndefined();
    expect(detailsOf('iptables', { details: { open: ['8080/tcp'], open6: [] } })).toEqual({ open: ['8080/tcp'], open6: [] });
    expect(detailsOf('preparer', {})).toBeUndefined();
  });
});
