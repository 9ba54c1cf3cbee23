import { spawn } from 'node:child_process';

/**
 * Signs `message` in `namespace` with the real `ssh-keygen -Y sign -f KEY`, which reads the message on stdin and
 * writes the armored signature on stdout. Run in our session (not detached like shared/process.ts's commands) so
 * that ssh-keygen can ask for a passphrase on the terminal, use ssh-agent (KEY may then be the public key) or a
 * hardware key's touch. Throws with ssh-keygen's own words when it fails.
 */
export function sshKeygenSign(keyPath: string, namespace: string, message: Buffer | string, program = 'ssh-keygen'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['-q', '-Y', 'sign', '-f', keyPath, '-n', namespace], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => {}); // ssh-keygen exiting before it read the message: its exit code tells
    child.once('error', (e) => reject(new Error(`cannot run ${program}: ${e.message}`)));
    child.once('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8').trim();
      const signature = Buffer.concat(out).toString('utf8');
      if (code === 0 && signature.includes('-----BEGIN SSH SIGNATURE-----')) return resolve(signature.trim());
      reject(
        new Error(
          `${program} -Y sign -f ${keyPath} -n ${namespace} ${signal ? `was killed by ${signal}` : `exited ${code}`}: ${stderr || 'no signature written'}`,
        ),
      );
    });
    child.stdin.end(message);
  });
}
