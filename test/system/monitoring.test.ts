// The three agents of a running system (runit, real Consul) watched the ways an operator would: a real Prometheus
// server scraping their /metrics, their Consul checks, and pp check.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startConsul, type RunningConsul } from '../support/consul-agent.js';
import { freePort } from '../support/free-port.js';
import { eventually } from '../support/intent-fixtures.js';
import { promtoolCheck } from '../support/promtool.js';
import { runCli } from '../support/run-cli.js';
import { buildArtifact, versionOn } from '../support/version-server.js';
import { intentOf, newApp } from './support/apps.js';
import { AGENTS, startSystem, type System } from './support/system.js';

let consul: RunningConsul | undefined;
let system: System | undefined;
let prometheus: ChildProcess | undefined;
let prometheusLog = '';

beforeAll(async () => {
  consul = await startConsul();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.log(`${await system?.logs(25)}\n--- prometheus\n${prometheusLog.slice(-3000)}`);
});
afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await system?.stop().catch((err) => console.error('system stop:', err));
  await consul?.stop();
});

/** A real Prometheus on loopback scraping every agent of `s` each second; resolves with its address once ready. */
async function startPrometheus(s: System): Promise<string> {
  const dir = join(s.root, 'prometheus');
  await mkdir(dir);
  const targets = AGENTS.map((a) => `'${s.metrics[a]}'`).join(', ');
  await writeFile(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: platypus\n    static_configs: [{ targets: [${targets}] }]\n`,
  );
  const address = `127.0.0.1:${await freePort()}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${address}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (d) => {
    prometheusLog += String(d);
  });
  prometheus.stderr!.on('data', (d) => {
    prometheusLog += String(d);
  });
  await eventually(async () => (await fetch(`http://${address}/-/ready`)).ok, 30_000, 'prometheus ready');
  return address;
}

/** One instant query through Prometheus's HTTP API: the values of the series it returns. */
async function query(prom: string, promql: string): Promise<number[]> {
  const res = await fetch(`http://${prom}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { data: { result: Array<{ value: [number, string] }> } };
  return body.data.result.map((r) => Number(r.value[1]));
}

/** Waits until `promql` returns exactly one series whose value satisfies `ok`; fails naming the last values seen. */
async function sees(prom: string, promql: string, ok: (value: number) => boolean): Promise<void> {
  let last: number[] = [];
  await eventually(
    async () => {
      last = await query(prom, promql);
      return last.length === 1 && ok(last[0]!);
    },
    30_000,
    promql,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen: ${JSON.stringify(last)}`);
  });
}

describe('a running system, watched', () => {
  it('Prometheus scrapes all three agents and reads a failed app back; the Consul checks and pp check agree', {
    timeout: 180_000,
  }, async () => {
    system = await startSystem({ consulAddress: consul!.address });
    const s = system;
    const prom = await startPrometheus(s);
    await eventually(async () => (await query(prom, 'up{job="platypus"} == 1')).length === AGENTS.length, 60_000, 'every agent scraped');

    const app = await newApp(s.root, 'hello');
    const v1 = await buildArtifact(s.root, 'hello', '1.0.0');
    await s.putIntent('hello', intentOf(app, [{ artifact: v1, state: 'live' }]));
    await eventually(async () => (await versionOn(app.port)) === '1.0.0', 60_000, 'hello answering 1.0.0');
    for (const agent of AGENTS)
      await eventually(async () => (await s.reality(agent, 'hello'))?.status === 'converged', 20_000, `${agent} converged`);
    const pp = (...args: string[]) =>
      runCli('pp/index.js', ['check', ...args, '--store', `consul://${s.consulAddress}`, '--prefix', s.prefix]);
    await eventually(async () => (await pp(s.node)).code === 0, 20_000, 'pp check OK');

    // A version whose artifact does not match its digest: pp-preparer fails it, and says so everywhere.
    const v2 = await buildArtifact(s.root, 'hello', '2.0.0');
    await s.putIntent('hello', intentOf(app, [{ artifact: v2, state: 'live', sha256: 'f'.repeat(64) }]));
    await eventually(
      async () => (await query(prom, 'platypus_apps{agent="preparer",status="failed"}'))[0] === 1,
      60_000,
      'Prometheus sees the failed app',
    );
    // A scrape that runs past its 1 s timeout on a loaded machine marks that target's series stale until the next
    // one, so each series is waited for rather than read once.
    await sees(prom, 'platypus_app_status{agent="preparer",app="hello",status="failed"}', (v) => v === 1);
    await sees(prom, 'platypus_preparer_artifact_bytes_total{app="hello"}', (v) => v > 0);
    await sees(prom, 'platypus_setlive_flip_duration_seconds_count', (v) => v >= 1);
    await sees(prom, 'platypus_iptables_chain_rewrites_total{family="ipv4"}', (v) => v >= 1);
    await sees(prom, 'platypus_preparer_install_duration_seconds_count{result="failed"}', (v) => v >= 1);

    const checks = async () =>
      (await (await fetch(`http://${s.consulAddress}/v1/agent/checks`)).json()) as Record<string, { Status: string; Output: string }>;
    await eventually(async () => (await checks())[`pp-preparer:${s.node}`]?.Status === 'critical', 30_000, 'preparer check critical');
    expect((await checks())[`pp-preparer:${s.node}`]!.Output).toMatch(/^1 failed: hello 2\.0\.0: .*sha256/);
    expect((await checks())[`pp-iptables:${s.node}`]!.Status).toBe('passing');

    // What each agent serves mid-failure, pp-iptables in native mode included, passes promtool too.
    for (const agent of AGENTS) {
      const lint = await promtoolCheck(await (await fetch(`http://${s.metrics[agent]}/metrics`)).text());
      expect(lint, `${agent}: ${lint.output}`).toMatchObject({ code: 0 });
    }

    const verdict = await pp(s.node);
    expect(verdict.code).toBe(2);
    expect(verdict.stdout).toMatch(/^PLATYPUS CRITICAL - 1 failed: \S+\/hello preparer: .*\| .*failed=1;;0;0/);
  });
});
