import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSigner, matchPatternList, parseAllowedSigners, parseSignerTime } from '../../../shared/trust/allowed-signers.js';
import { sshKeygenSign } from '../../../shared/trust/ssh-keygen.js';
import { fingerprint, parseArmoredSignature, verifySignature } from '../../../shared/trust/sshsig.js';
import { makeSshKey, type SshKey, sshKeygenVerify, startSshAgent } from '../../support/ssh-keys.js';

const NS = 'platypus-intent';
let dir: string;
let alice: SshKey;
let bob: SshKey;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pp-sshsig-'));
  alice = makeSshKey(dir, 'alice');
  bob = makeSshKey(dir, 'bob');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SSHSIG: signatures of the real ssh-keygen verify with node:crypto', () => {
  it('accepts a file signed by `ssh-keygen -Y sign` and refuses a tampered message, another namespace, a swapped key', () => {
    const file = join(dir, 'spec.json');
    writeFileSync(file, '{"schema":1}\n');
    // The file form, exactly as the reference gives it: FILE.sig is written beside FILE.
    execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', alice.path, '-n', NS, file]);
    const sig = parseArmoredSignature(readFileSync(`${file}.sig`, 'utf8'));
    expect(sig.keyType).toBe('ssh-ed25519');
    expect(sig.namespace).toBe(NS);
    expect(sig.hashAlgorithm).toBe('sha512');
    expect(fingerprint(sig.publicKey)).toBe(execFileSync('ssh-keygen', ['-l', '-f', alice.publicPath], { encoding: 'utf8' }).split(' ')[1]);
    expect(() => verifySignature(sig, NS, '{"schema":1}\n')).not.toThrow();
    expect(() => verifySignature(sig, NS, '{"schema":2}\n')).toThrow(/does not match the signed content/);
    expect(() => verifySignature(sig, 'other', '{"schema":1}\n')).toThrow(/signed for namespace "platypus-intent", expected "other"/);
    const bobKey = Buffer.from(bob.publicKey.split(' ')[1]!, 'base64');
    expect(() => verifySignature({ ...sig, publicKey: bobKey }, NS, '{"schema":1}\n')).toThrow(/does not match/);
  });

  it('refuses damaged armor and blobs with a message saying what is wrong', () => {
    expect(() => parseArmoredSignature('hello')).toThrow(/not an SSH signature/);
    expect(() => parseArmoredSignature('-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----')).toThrow(/not base64/);
    const short = Buffer.from('SSHSIG\0\0\0\x01').toString('base64');
    expect(() => parseArmoredSignature(`-----BEGIN SSH SIGNATURE-----\n${short}\n-----END SSH SIGNATURE-----`)).toThrow(
      /truncated before the public key/,
    );
  });

  it('signs through the real ssh-keygen, and `ssh-keygen -Y verify` accepts what we signed', async () => {
    const message = 'what pp signs\n';
    const armored = await sshKeygenSign(alice.path, NS, message);
    expect(() => verifySignature(parseArmoredSignature(armored), NS, message)).not.toThrow();
    const sigFile = join(dir, 'pp.sig');
    writeFileSync(sigFile, `${armored}\n`);
    const signers = join(dir, 'allowed_signers');
    writeFileSync(signers, `alice@example namespaces="${NS}" ${alice.publicKey}\n`);
    const ok = sshKeygenVerify(signers, 'alice@example', NS, sigFile, message);
    expect(ok.output).toContain('Good "platypus-intent" signature for alice@example');
    expect(ok.code).toBe(0);
    expect(sshKeygenVerify(signers, 'alice@example', NS, sigFile, 'something else\n').code).not.toBe(0);
  });

  it('signs with a key held by a real ssh-agent, naming only its public half', async () => {
    const agent = await startSshAgent(dir);
    const before = process.env.SSH_AUTH_SOCK;
    try {
      agent.add(bob.path);
      process.env.SSH_AUTH_SOCK = agent.socket;
      const armored = await sshKeygenSign(bob.publicPath, NS, 'via the agent');
      const sig = parseArmoredSignature(armored);
      expect(sig.publicKey.equals(Buffer.from(bob.publicKey.split(' ')[1]!, 'base64'))).toBe(true);
      expect(() => verifySignature(sig, NS, 'via the agent')).not.toThrow();
    } finally {
      if (before === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = before;
      await agent.stop();
    }
  });

  it("reports ssh-keygen's own words when it cannot sign", async () => {
    await expect(sshKeygenSign(join(dir, 'missing-key'), NS, 'x')).rejects.toThrow(
      /ssh-keygen -Y sign -f .*missing-key -n platypus-intent exited \d+: .+/,
    );
  });
});

describe('security keys (sk-ssh-ed25519@openssh.com)', () => {
  // OpenSSH's own test vector (regress/unittests/sshsig/testdata: ed25519_sk.pub, ed25519_sk.sig, signed-data,
  // namespace), made by ssh-keygen -Y sign with a FIDO key through its sk-dummy middleware.
  const publicKey =
    'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIJsaDYXQYruc6bilCYDIK4YSOeG+zmrRO2M9t03//7LHAAAABHNzaDo=';
  const armored = [
    '-----BEGIN SSH SIGNATURE-----',
    'U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAgmxoNhd',
    'Biu5zpuKUJgMgrhhI54b7OatE7Yz23Tf//sscAAAAEc3NoOgAAAAh1bml0dGVzdAAAAAAA',
    'AAAGc2hhNTEyAAAAZwAAABpzay1zc2gtZWQyNTUxOUBvcGVuc3NoLmNvbQAAAEAi+7eTjW',
    '/+LQ2M+sCD+KFtH1n7VFFJon/SZFsxODyV8cWTlFKj617Ys1Ur5TV6uaEXQhck8rBA2oQI',
    'HTPANLIPARI0Vng=',
    '-----END SSH SIGNATURE-----',
  ].join('\n');
  const message = 'This is a test, this is only a test';

  it('verifies a security key signature the way ssh-keygen -Y verify does, flags and counter included', () => {
    const sigFile = join(dir, 'sk.sig');
    writeFileSync(sigFile, `${armored}\n`);
    const signersFile = join(dir, 'sk_signers');
    writeFileSync(signersFile, `test@example ${publicKey}\n`);
    expect(sshKeygenVerify(signersFile, 'test@example', 'unittest', sigFile, message).code).toBe(0);
    const sig = parseArmoredSignature(armored);
    expect(sig.keyType).toBe('sk-ssh-ed25519@openssh.com');
    expect(sig.sk).toBeDefined();
    expect(() => verifySignature(sig, 'unittest', message)).not.toThrow();
    expect(() => verifySignature(sig, 'unittest', `${message}!`)).toThrow(/does not match the signed content/);
    expect(() => verifySignature({ ...sig, sk: { ...sig.sk!, flags: sig.sk!.flags ^ 1 } }, 'unittest', message)).toThrow(/does not match/);
    expect(() => verifySignature({ ...sig, sk: { ...sig.sk!, counter: sig.sk!.counter + 1 } }, 'unittest', message)).toThrow(
      /does not match/,
    );
    const signers = parseAllowedSigners(`test@example ${publicKey}`);
    expect(findSigner(signers, sig.publicKey, 'unittest', new Date())).toBe(signers[0]);
  });
});

describe('allowed_signers', () => {
  it('parses principals, options and keys, and finds the signer a signature names', () => {
    const rsa = makeSshKey(dir, 'carol', 'rsa');
    const text = [
      '# operators',
      '',
      `alice@example,"ops team" namespaces="${NS},git",valid-after="20200101",valid-before="20991231Z" ${alice.publicKey}`,
      `bob@example namespaces="git" ${bob.publicKey}`,
      `carol@example ${rsa.publicKey}`,
      `*@example cert-authority ${bob.publicKey}`,
    ].join('\n');
    const signers = parseAllowedSigners(text, 'signers');
    expect(signers).toHaveLength(4);
    expect(signers[0]).toMatchObject({ source: 'signers:3', principals: ['alice@example', '"ops team"'], namespaces: [NS, 'git'] });
    expect(signers[0]!.validBefore!.toISOString()).toBe('2099-12-31T00:00:00.000Z');
    expect(signers[3]!.certAuthority).toBe(true);
    const now = new Date('2026-06-01T00:00:00Z');
    const keyOf = (k: SshKey) => Buffer.from(k.publicKey.split(' ')[1]!, 'base64');
    expect(findSigner(signers, keyOf(alice), NS, now)).toBe(signers[0]);
    expect(String(findSigner(signers, keyOf(bob), NS, now))).toMatch(
      /signers:4: the key may sign for namespaces git only, not platypus-intent/,
    );
    expect(String(findSigner(signers, keyOf(rsa), NS, now))).toMatch(
      /key type ssh-rsa is not supported \(only ssh-ed25519, sk-ssh-ed25519@openssh.com\)/,
    );
    expect(String(findSigner(signers, keyOf(alice), NS, new Date('2100-01-01T00:00:00Z')))).toMatch(/not valid after 2099-12-31/);
    const stranger = makeSshKey(dir, 'mallory');
    expect(String(findSigner(signers, keyOf(stranger), NS, now))).toMatch(/signed by a key not in the trusted signers \(SHA256:/);
  });

  it('refuses bad lines naming the file and line', () => {
    expect(() => parseAllowedSigners(`a@b ${alice.publicKey}\nb@c ssh-ed25519 @@@`, 'f')).toThrow(/^f:2: the key is not base64/);
    expect(() => parseAllowedSigners(`a@b frobnicate ${alice.publicKey}`, 'f')).toThrow(/f:1: unknown option "frobnicate"/);
    expect(() => parseAllowedSigners(`a@b valid-after="2020" ${alice.publicKey}`, 'f')).toThrow(/f:1: time "2020": expected/);
    expect(() => parseAllowedSigners(`a@b ssh-rsa ${alice.publicKey.split(' ')[1]}`, 'f')).toThrow(/the key says it is "ssh-ed25519"/);
    expect(() => parseAllowedSigners('a@b', 'f')).toThrow(/f:1: expected PRINCIPALS/);
  });

  it('reads times and pattern lists the way ssh-keygen does', () => {
    expect(parseSignerTime('20260102Z').toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(parseSignerTime('202601021304Z').toISOString()).toBe('2026-01-02T13:04:00.000Z');
    expect(parseSignerTime('20260102130405Z').toISOString()).toBe('2026-01-02T13:04:05.000Z');
    expect(() => parseSignerTime('20261302Z')).toThrow(/not a date/);
    expect(matchPatternList('platypus-intent', ['git', 'platypus-*'])).toBe(true);
    expect(matchPatternList('platypus-intent', ['*', '!platypus-intent'])).toBe(false);
    expect(matchPatternList('file', ['platypus-inten?'])).toBe(false);
  });
});
