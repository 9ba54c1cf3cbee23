import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { readDeployments } from '../../pp/deploy/record.js';
import { intentDigest } from '../../shared/intent/digest.js';
import { validateAppIntent } from '../../shared/intent/validate.js';
import { appIntentKey } from '../../shared/keys.js';
import { eventually, uniquePrefix } from '../support/intent-fixtures.js';
import { runCli, startCli } from '../support/run-cli.js';
import { APP, DeployFleet } from '../system/support/deploy-fleet.js';

let fleet: DeployFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

describe('pp deploy and records that answer an older intent (real Consul, pp-preparer, pp-setlive, runsvdir)', () => {
  it("is not done while the node's setlive still reports converged for the previous intent; done once it answers the new one", async () => {
    const f = await DeployFleet.start(`consul://${inject('consulAddress')}`, uniquePrefix('deploy-answers'), 1);
    fleet = f;
    const storeArgs = ['--store', f.storeSpec, '--prefix', f.prefix];
    const describeFleet = async () => `${JSON.stringify(await f.reality(f.nodes[0]!))}\n${await f.logs()}`;
    f.startAgents();
    const v1 = await f.writeSpec('v1.json', await f.artifact('1.0'));
    const first = await runCli('pp/index.js', [...storeArgs, 'deploy', APP, '--file', v1, '--nodes', 'web1', '--yes', '--timeout', '240']);
    expect(first.code, first.stdout + first.stderr + (await describeFleet())).toBe(0);
    const before = (await f.reality(f.nodes[0]!))!;
    expect(before).toMatchObject({ status: 'converged', version: '1.0', details: expect.objectContaining({ current: '1.0' }) });

    // The same version with another health check: setlive's record, converged on 1.0, answers the intent before.
    const spec = JSON.parse(await readFile(v1, 'utf8')) as { health: { timeoutMs: number } };
    spec.health.timeoutMs = 9000;
    const v1b = `${v1}.b.json`;
    await writeFile(v1b, JSON.stringify(spec));
    // Held (SIGSTOP), setlive cannot answer the new intent until it is let go.
    const setlive = f.nodes[0]!.agents.find((a) => a.agent === 'setlive')!;
    setlive.kill('SIGSTOP');
    const deploy = startCli('pp/index.js', [...storeArgs, 'deploy', APP, '--file', v1b, '--nodes', 'web1', '--yes', '--timeout', '240']);
    let exited = false;
    void deploy.done.then(() => {
      exited = true;
    });
    try {
      await eventually(() => exited || deploy.stderr.includes('] flip: '), 120_000, 'the deploy to follow its flip');
      expect(deploy.stdout).toContain('1 node: 1 flip hello 1.0 → 1.0');
      expect(deploy.stderr).toMatch(/\] flip: live 0\/1, in progress 0, waiting 1, failed 0\n/);
      expect(exited, deploy.stdout).toBe(false);
    } finally {
      setlive.kill('SIGCONT');
    }
    const end = await deploy.done;
    expect(end.code, deploy.stdout + deploy.stderr + (await describeFleet())).toBe(0);
    expect(deploy.stdout).toMatch(/succeeded after [\d.]+ s: 1\/1 live on 1\.0/);

    // setlive's record now answers the intent written, by its digest.
    const written = (await f.store.get(appIntentKey(f.prefix, 'web1', APP)))!;
    const checked = validateAppIntent('test', APP, written);
    if (!checked.ok) throw new Error(checked.error);
    expect(checked.intent.health?.timeoutMs).toBe(9000);
    const after = (await f.reality(f.nodes[0]!))!;
    expect(after.intentDigest).toBe(intentDigest(checked.intent));
    expect(before.intentDigest).not.toBe(after.intentDigest);
    expect(after).toMatchObject({ status: 'converged', version: '1.0' });
    expect((await readDeployments(f.store, f.prefix, APP)).map((r) => r.outcome)).toEqual(['succeeded', 'succeeded']);
  }, 360_000);
});
