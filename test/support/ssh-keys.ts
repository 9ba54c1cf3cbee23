import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A key pair made by the real `ssh-keygen -t TYPE` in `dir`, without a passphrase. */
export interface SshKey {
  path: string;
  publicPath: string;
  /** The public key line: `TYPE BASE64 COMMENT`. */
  publicLine: string;
  /** `TYPE BASE64`, as an allowed_signers line takes it. */
  publicKey: string;
}

export function makeSshKey(dir: string, name: string, type = 'ed25519', comment = `${name}@example`): SshKey {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', comment, '-f', path]);
  const publicLine = readFileSync(`${path}.pub`, 'utf8').trim();
  return { path, publicPath: `${path}.pub`, publicLine, publicKey: publicLine.split(' ').slice(0, 2).join(' ') };
}

/** Runs the real `ssh-keygen -Y verify` of `message` against `signature`; its exit code and output. */
export function sshKeygenVerify(
  allowedSignersFile: string,
  principal: string,
  namespace: string,
  signatureFile: string,
  message: string,
): { code: number; output: string } {
  try {
    const output = execFileSync(
      'ssh-keygen',
      ['-Y', 'verify', '-f', allowedSignersFile, '-I', principal, '-n', namespace, '-s', signatureFile],
      { input: message, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] },
    );
    return { code: 0, output };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

/** Signs `message` with the real `ssh-keygen -Y sign` (stdin to stdout); the armored signature. */
export function sshKeygenSignDirect(keyPath: string, namespace: string, message: string): string {
  return execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', keyPath, '-n', namespace], { input: message, encoding: 'utf8' });
}

/** A real `ssh-agent -D` on a socket in `dir`, holding no key until `ssh-add`. */
export async function startSshAgent(dir: string): Promise<{ socket: string; add(key: string): void; stop(): Promise<void> }> {
  const socket = join(dir, 'agent.sock');
  const child: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      execFileSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'pipe' });
      break;
    } catch (err) {
      // exit 1: the agent answers and holds no identity; 2: not reachable yet
      if ((err as { status?: number }).status === 1) break;
      if (Date.now() > deadline) throw new Error(`ssh-agent did not start on ${socket}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    socket,
    add: (key) => execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'pipe' }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
