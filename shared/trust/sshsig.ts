import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';

/**
 * OpenSSH's SSHSIG signatures (PROTOCOL.sshsig), as `ssh-keygen -Y sign` writes them, verified with node:crypto.
 * Only ed25519 keys verify here, plain or held by a FIDO security key: node:crypto takes them raw, with no native
 * dependency and no ASN.1 to build.
 */

const MAGIC = Buffer.from('SSHSIG');
const ARMOR_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const ARMOR_END = '-----END SSH SIGNATURE-----';
export const ED25519 = 'ssh-ed25519';
/** An ed25519 key held by a FIDO security key (`ssh-keygen -t ed25519-sk`). */
export const SK_ED25519 = 'sk-ssh-ed25519@openssh.com';
/** The key types whose signatures verify here. */
export const VERIFIABLE_KEY_TYPES: readonly string[] = [ED25519, SK_ED25519];

/** A parsed SSHSIG blob. `publicKey` is the SSH wire blob of the signer's key (string type, string key). */
export interface SshSignature {
  publicKey: Buffer;
  keyType: string;
  namespace: string;
  hashAlgorithm: string;
  signatureType: string;
  signature: Buffer;
  /** A security key's flags (bit 0: the user touched it) and signature counter; both are signed. */
  sk?: { flags: number; counter: number };
}

/** Reads SSH wire strings (uint32 length + bytes) from a buffer; throws naming what was being read when it runs out. */
class WireReader {
  private at = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  uint32(field: string): number {
    if (this.at + 4 > this.buf.length) throw new Error(`${this.what}: truncated before ${field}`);
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }
  bytes(field: string): Buffer {
    const n = this.uint32(field);
    if (this.at + n > this.buf.length) throw new Error(`${this.what}: ${field} runs past the end`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  text(field: string): string {
    return this.bytes(field).toString('latin1');
  }
  raw(n: number, field: string): Buffer {
    if (this.at + n > this.buf.length) throw new Error(`${this.what}: truncated before ${field}`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  end(): void {
    if (this.at !== this.buf.length) throw new Error(`${this.what}: ${this.buf.length - this.at} unexpected bytes at the end`);
  }
}

function wireString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** Parses an armored `-----BEGIN SSH SIGNATURE-----` block; throws saying what is wrong with it. */
export function parseArmoredSignature(armored: string): SshSignature {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END))
    throw new Error(`not an SSH signature: expected ${ARMOR_BEGIN} … ${ARMOR_END}`);
  const body = text.slice(ARMOR_BEGIN.length, -ARMOR_END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+=*$/.test(body)) throw new Error('SSH signature: the armored body is not base64');
  const blob = Buffer.from(body, 'base64');
  const r = new WireReader(blob, 'SSH signature');
  if (!r.raw(MAGIC.length, 'the SSHSIG magic').equals(MAGIC)) throw new Error('SSH signature: missing the SSHSIG magic');
  const version = r.uint32('the version');
  if (version !== 1) throw new Error(`SSH signature: version ${version}, expected 1`);
  const publicKey = Buffer.from(r.bytes('the public key'));
  const namespace = r.text('the namespace');
  r.bytes('the reserved field');
  const hashAlgorithm = r.text('the hash algorithm');
  const sigBlob = r.bytes('the signature');
  r.end();
  const keyType = new WireReader(publicKey, 'SSH signature public key').text('the key type');
  const s = new WireReader(sigBlob, 'SSH signature blob');
  const signatureType = s.text('the signature type');
  const signature = Buffer.from(s.bytes('the signature bytes'));
  const sk = signatureType === SK_ED25519 ? { flags: s.raw(1, 'the security key flags')[0]!, counter: s.uint32('the counter') } : undefined;
  s.end();
  return { publicKey, keyType, namespace, hashAlgorithm, signatureType, signature, ...(sk ? { sk } : {}) };
}

/** The bytes an SSHSIG signature covers: magic, namespace, reserved, hash algorithm and the message's digest. */
export function signedData(namespace: string, hashAlgorithm: string, message: Buffer | string): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, wireString(namespace), wireString(''), wireString(hashAlgorithm), wireString(digest)]);
}

/** An ed25519 wire blob's raw 32-byte key (and a security key's application); throws for any other key type. */
export function ed25519Raw(publicKey: Buffer): { raw: Buffer; application?: string } {
  const r = new WireReader(publicKey, 'public key');
  const type = r.text('the key type');
  if (!VERIFIABLE_KEY_TYPES.includes(type)) throw new Error(`key type ${type} is not supported (only ${VERIFIABLE_KEY_TYPES.join(', ')})`);
  const raw = r.bytes('the ed25519 key');
  const application = type === SK_ED25519 ? r.text('the security key application') : undefined;
  r.end();
  if (raw.length !== 32) throw new Error(`an ed25519 key has 32 bytes, this one ${raw.length}`);
  return { raw: Buffer.from(raw), ...(application !== undefined ? { application } : {}) };
}

/** A fleet has a handful of signers: their key objects are made once, not once per verified spec. */
const keyObjects = new Map<string, KeyObject>();

function keyObject(publicKey: Buffer): KeyObject {
  const id = publicKey.toString('base64');
  let key = keyObjects.get(id);
  if (!key) {
    const x = ed25519Raw(publicKey).raw.toString('base64url');
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    if (keyObjects.size >= 64) keyObjects.clear();
    keyObjects.set(id, key);
  }
  return key;
}

/** `SHA256:…`, as `ssh-keygen -l` prints a key's fingerprint. */
export function fingerprint(publicKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Checks that `sig` is a valid signature of `message` in `namespace` by the key it carries. Throws saying why not;
 * whether that key may sign at all is the caller's question (see allowed-signers.ts).
 */
export function verifySignature(sig: SshSignature, namespace: string, message: Buffer | string): void {
  if (sig.namespace !== namespace)
    throw new Error(`signed for namespace ${JSON.stringify(sig.namespace)}, expected ${JSON.stringify(namespace)}`);
  if (sig.hashAlgorithm !== 'sha512' && sig.hashAlgorithm !== 'sha256')
    throw new Error(`hash algorithm ${sig.hashAlgorithm} is not supported (sha512 or sha256)`);
  if (!VERIFIABLE_KEY_TYPES.includes(sig.signatureType))
    throw new Error(`signature type ${sig.signatureType} is not supported (only ${VERIFIABLE_KEY_TYPES.join(', ')})`);
  if (sig.signatureType !== sig.keyType) throw new Error(`a ${sig.signatureType} signature by a ${sig.keyType} key`);
  const key = keyObject(sig.publicKey);
  let data = signedData(namespace, sig.hashAlgorithm, message);
  if (sig.sk) {
    // A security key signs sha256(application) ‖ flags ‖ counter ‖ sha256(data), so its flags and counter count too.
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(sig.sk.counter);
    const application = ed25519Raw(sig.publicKey).application ?? '';
    const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();
    data = Buffer.concat([sha256(application), Buffer.from([sig.sk.flags]), counter, sha256(data)]);
  }
  if (sig.signature.length !== 64 || !verify(null, data, key, sig.signature))
    throw new Error(`the signature does not match the signed content (key ${fingerprint(sig.publicKey)})`);
}
