// On a fresh machine the demo's first failure must say what to install, as one command to copy.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const exec = promisify(execFile);

it('demo.sh without runit names the apt-get command that installs what it needs', async () => {
  // A PATH with what the demo's first lines use, and no runit.
  const bin = await mkdtemp(join(tmpdir(), 'pp-demo-path-'));
  try {
    for (const tool of ['bash', 'dirname', 'id']) {
      const { stdout } = await exec('sh', ['-c', `command -v ${tool}`]);
      await symlink(stdout.trim(), join(bin, tool));
    }
    await symlink(process.execPath, join(bin, 'node'));
    const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
    const run = exec(join(bin, 'bash'), [join(REPO, 'scripts/demo.sh')], { env: { PATH: bin } });
    await expect(run).rejects.toMatchObject({
      code: 1,
      stdout: '',
      stderr: `demo: runsvdir not found; on Debian or Ubuntu run: ${sudo}apt-get update && ${sudo}apt-get install -y runit iptables iproute2 curl\n`,
    });
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
});
