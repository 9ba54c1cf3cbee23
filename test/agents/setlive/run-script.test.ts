import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderRunScript } from '../../../agents/setlive/service-files.js';
import { parseAppIntent } from '../../../shared/intent/schema.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-run-script-'));
  await mkdir(join(root, 'current'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the run script pp-setlive writes', () => {
  it('hands hostile words and env values to the process exactly as intended, under a real /bin/sh', async () => {
    const words = ['a b', '--port=1', "it's", '$(touch pwned)', '`id`', 'PORT=2', '-c', '*', 'line\nbreak'];
    const env = { X: "a'b\n$(touch pwned) `id` $HOME", PORT: '8080', EMPTY: '' };
    const intent = parseAppIntent({
      schema: 1,
      basedir: root,
      versions: [],
      service: {
        command: [
          process.execPath,
          '-e',
          'console.log(JSON.stringify({ argv: process.argv.slice(1), X: process.env.X, PORT: process.env.PORT, EMPTY: process.env.EMPTY }))',
          ...words,
        ],
        env,
      },
    });
    const script = join(root, 'run');
    await writeFile(
      script,
      renderRunScript('hostile', intent, {
        chpst: 'chpst',
        svlogd: 'svlogd',
        serviceDir: '/x',
        stageDir: '/y',
        settleMs: 0,
        stopTimeoutMs: 0,
        startTimeoutMs: 0,
        pickupTimeoutMs: 0,
        failedHoldMs: 0,
      }),
    );
    const out = JSON.parse(
      execFileSync('/bin/sh', [script], {
        cwd: root,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/home/nobody' },
      }),
    );
    expect(out).toEqual({ argv: words, X: env.X, PORT: '8080', EMPTY: '' });
    expect(execFileSync('ls', [root, join(root, 'current')], { encoding: 'utf8' })).not.toContain('pwned');
  });
});
