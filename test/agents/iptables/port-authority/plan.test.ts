import { describe, expect, it } from 'vitest';
import { parseAppFile, renderAppFile } from '../../../../agents/iptables/port-authority/files.js';
import { planPortAuthority, type PaFile, type PaObserved } from '../../../../agents/iptables/port-authority/plan.js';
import { INVALID, nodeIntent } from '../intent.js';

const ours = (app: string, ports: number[]): PaFile => {
  const content = renderAppFile(
    app,
    ports.map((port) => ({ port, protocol: 'tcp' as const })),
  );
  return { path: `/pa/${app}.yml`, content, ...parseAppFile(content) };
};
const observed = (files: Record<string, PaFile>, marker?: string[]): PaObserved => ({
  files: new Map(Object.entries(files)),
  refresh: { pending: marker !== undefined, apps: marker ?? [] },
  leftovers: [],
});
const actions = (plans: ReturnType<typeof planPortAuthority>) =>
  Object.fromEntries(plans.map((p) => [p.app, p.actions.map((a) => a.kind)]));

describe('port_authority files', () => {
  it('render and parse agree, and a file without our header is not ours', () => {
    const content = renderAppFile('web', [
      { port: 8080, protocol: 'tcp' },
      { port: 53, protocol: 'udp' },
    ]);
    expect(content.split('\n').slice(1)).toEqual([
      'web_53_udp: {port: 53, protocol: udp}',
      'web_8080_tcp: {port: 8080, protocol: tcp}',
      '',
    ]);
    expect(parseAppFile(content)).toEqual({
      managed: true,
      ports: [
        { port: 53, protocol: 'udp' },
        { port: 8080, protocol: 'tcp' },
      ],
    });
    expect(parseAppFile('x_1_tcp: {port: 1, protocol: tcp}\n').managed).toBe(false);
  });
});

describe('planPortAuthority', () => {
  it("writes changed files first; the refresh comes once every listed app's file is right", () => {
    const intent = nodeIntent({ api: [9090], web: [8080] });
    expect(actions(planPortAuthority(intent, observed({ api: ours('api', [9090]) }, ['api'])))).toEqual({
      api: ['refresh'],
      web: ['write-file'],
    });
    expect(actions(planPortAuthority(intent, observed({ api: ours('api', [9090]), web: ours('web', [8080]) }, ['api', 'web'])))).toEqual({
      api: ['refresh'],
      web: ['refresh'],
    });
    expect(actions(planPortAuthority(intent, observed({ api: ours('api', [9090]), web: ours('web', [8080]) })))).toEqual({
      api: [],
      web: [],
    });
  });

  it("removes only managed files of apps no longer kept, and keeps an invalid app's file", () => {
    const foreign: PaFile = { path: '/pa/other.yml', content: 'x\n', managed: false, ports: [] };
    const plans = planPortAuthority(
      nodeIntent({ web: INVALID, api: [1] }),
      observed({ old: ours('old', [2]), other: foreign, web: ours('web', [80]) }),
    );
    expect(actions(plans)).toEqual({ api: ['write-file'], old: ['remove-file'], other: [], web: [] });
  });

  it('never overwrites a hand-written file of an intended app: the app is failed naming the file', () => {
    const hand: PaFile = {
      path: '/pa/web.yml',
      content: 'web_22_tcp: {port: 22, protocol: tcp}\n',
      managed: false,
      ports: [{ port: 22, protocol: 'tcp' }],
    };
    const plans = planPortAuthority(nodeIntent({ web: [8080], api: [9090] }), observed({ web: hand }));
    expect(actions(plans)).toEqual({ api: ['write-file'], web: [] });
    expect(plans.find((p) => p.app === 'web')?.error).toContain('/pa/web.yml was not written by pp-iptables');
  });

  it('plans nothing when the intent is untrusted, and removes everything of ours when drained', () => {
    const files = { web: ours('web', [80]) };
    expect(planPortAuthority(nodeIntent({}), observed(files))).toEqual([]);
    expect(actions(planPortAuthority(nodeIntent({}, true), observed(files)))).toEqual({ web: ['remove-file'] });
  });

  it('plans no action and fails every app when the folder cannot be read', () => {
    const plans = planPortAuthority(nodeIntent({ web: [80] }), { ...observed({}), error: 'cannot read config folder /x: EACCES' });
    expect(plans).toEqual([{ app: 'web', actions: [], error: 'cannot read config folder /x: EACCES' }]);
  });
});
