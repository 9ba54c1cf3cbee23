import { mkdtempSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { readStoredValue, SIGN_NAMESPACE, signedMessage } from '../../../shared/trust/envelope.js';
import { appIntent } from '../../support/intent-fixtures.js';
import { runCli } from '../../support/run-cli.js';
import { makeSshKey, type SshKey, sshKeygenVerify } from '../../support/ssh-keys.js';

let root: string;
let alice: SshKey;
let signers: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pp-trusted-cli-'));
  alice = makeSshKey(root, 'alice');
  signers = join(root, 'allowed_signers');
  writeFileSync(signers, `alice@example ${alice.publicKey}\n`);
});

describe('pp --sign-key and pp-iptables --trusted-signers, as built programs', () => {
  it('a spec put with --sign-key converges; an unsigned one is refused; the signature verifies with ssh-keygen -Y verify', async () => {
    const storeDir = join(root, 'store');
    const configDir = join(root, 'pa');
    const store = `folder:${storeDir}`;
    const specFile = (name: string, port: number) => {
      const file = join(root, `${name}.json`);
      writeFileSync(file, JSON.stringify(appIntent('1.0', { ports: [{ port, protocol: 'tcp' }] })));
      return file;
    };
    const pp = (...args: string[]) => runCli('pp/index.js', ['--store', store, ...args]);
    const put = await pp('intent', 'put', 'n1,n2', 'web', '--file', specFile('web', 8080), '--sign-key', alice.path);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const folder = new FolderStore(storeDir);
    const stored = readStoredValue((await folder.get(appIntentKey('platypus', 'n2', 'web')))!);
    if (stored.form !== 'signed') throw new Error('pp wrote no envelope');
    expect(stored.order.nodes).toEqual(['n1', 'n2']);
    writeFileSync(join(root, 'web.sig'), stored.order.signature);
    expect(sshKeygenVerify(signers, 'alice@example', SIGN_NAMESPACE, join(root, 'web.sig'), signedMessage(stored.order)).code).toBe(0);
    // `pp intent get` shows the spec inside, so its output can be put again.
    expect(JSON.parse((await pp('intent', 'get', 'n1', 'web')).stdout)).toMatchObject({ ports: [{ port: 8080 }] });
    expect((await pp('intent', 'put', 'n1', 'api', '--file', specFile('api', 9090))).code).toBe(0);

    const agent = (...extra: string[]) =>
      runCli('agents/iptables/index.js', [
        '--mode',
        'port-authority',
        '--config-dir',
        configDir,
        '--refresh-command',
        'true',
        '--store',
        store,
        '--node',
        'n1',
        '--once',
        '--log-level',
        'silent',
        ...extra,
      ]);
    const run = await agent('--trusted-signers', signers);
    expect(run.code).toBe(1);
    expect((await readdir(configDir)).filter((f) => f.endsWith('.yml'))).toEqual(['web.yml']);
    expect(await readFile(join(configDir, 'web.yml'), 'utf8')).toContain('web_8080_tcp');
    const api = JSON.parse((await folder.get(realityKey('platypus', 'n1', 'iptables', 'api')))!);
    expect(api).toMatchObject({ status: 'failed' });
    expect(api.error).toContain(`refused by --trusted-signers ${signers}: not signed`);
    // Without the flag, today's behaviour: the unsigned spec counts.
    expect((await agent()).code).toBe(0);
    expect((await readdir(configDir)).filter((f) => f.endsWith('.yml')).sort()).toEqual(['api.yml', 'web.yml']);
  });

  it('refuses to start on an unusable --trusted-signers file, naming it (exit 2)', async () => {
    const missing = await runCli('agents/iptables/index.js', ['--trusted-signers', join(root, 'nope'), '--once']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/pp-iptables: --trusted-signers .*nope: ENOENT/);
    const bad = join(root, 'bad_signers');
    writeFileSync(bad, 'alice@example ssh-ed25519\n');
    const parsed = await runCli('agents/iptables/index.js', ['--trusted-signers', bad, '--once']);
    expect(parsed.code).toBe(2);
    expect(parsed.stderr).toContain(`${bad}:1: expected PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY`);
  });
});
