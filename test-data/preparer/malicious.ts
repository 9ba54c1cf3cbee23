// The malicious archive collection for pp-preparer's tests. Each archive is built as real tar blocks with
// node-tar's Header (GNU tar refuses to create most of these) and gzipped with zlib, so what the agent
// reads is byte for byte what an attacker could publish. `rule` is what the refusal must say.
// `npx vitest run test/agents/preparer/malicious.test.ts` builds them all; see README.md for the list.
import { gzipSync } from 'node:zlib';
import { Header, type HeaderData } from 'tar';

/** Where the absolute-path archive tries to write: the test checks it never appears. */
export const ABSOLUTE_TARGET = '/tmp/pp-preparer-evil-absolute.txt';

function block(h: HeaderData): Buffer {
  const buf = Buffer.alloc(512);
  new Header({ mode: 0o644, uid: 0, gid: 0, mtime: new Date(1_700_000_000_000), size: 0, type: 'File', ...h }).encode(buf, 0);
  return buf;
}

const file = (path: string, content: string | Buffer): Buffer[] => {
  const body = Buffer.from(content);
  const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  body.copy(padded);
  return [block({ path, size: body.length }), padded];
};
const dir = (path: string) => [block({ path, type: 'Directory', mode: 0o755 })];
const symlink = (path: string, linkpath: string) => [block({ path, type: 'SymbolicLink', linkpath })];
const hardlink = (path: string, linkpath: string) => [block({ path, type: 'Link', linkpath })];
const node = (path: string, type: 'CharacterDevice' | 'BlockDevice' | 'FIFO', devmaj = 0, devmin = 0) => [block({ path, type, devmaj, devmin })];

/** A tar stream (with its two end blocks) from entries, gzipped. */
export function tarGz(...entries: Buffer[][]): Buffer {
  return gzipSync(Buffer.concat([...entries.flat(), Buffer.alloc(1024)]));
}

export interface Malicious {
  name: string;
  /** What the refusal must say (the entry's name and the rule). */
  rule: RegExp;
  archive: () => Buffer;
  /** Limits the test must set for this one to be a bomb. */
  limits?: { maxBytes?: number; maxEntries?: number };
}

const benign = () => [...dir('bin/'), ...file('bin/run', '#!/bin/sh\n')];

export const MALICIOUS: Malicious[] = [
  { name: 'traversal', rule: /"\.\.\/pp-escape-traversal\.txt".*'\.\.' component/, archive: () => tarGz(benign(), file('../pp-escape-traversal.txt', 'x')) },
  { name: 'traversal-deep', rule: /"bin\/\.\.\/\.\.\/\.\.\/pp-escape-deep\.txt".*'\.\.' component/, archive: () => tarGz(benign(), file('bin/../../../pp-escape-deep.txt', 'x')) },
  { name: 'absolute', rule: /pp-preparer-evil-absolute\.txt".*absolute path/, archive: () => tarGz(benign(), file(ABSOLUTE_TARGET, 'x')) },
  { name: 'symlink-absolute', rule: /"etc".*symlink to absolute path \/etc points outside/, archive: () => tarGz(symlink('etc', '/etc'), file('etc/pp-evil', 'x')) },
  { name: 'symlink-escape', rule: /"up".*symlink to \.\.\/\.\.\/\.\. resolves outside/, archive: () => tarGz(symlink('up', '../../..'), file('up/pp-escape-symlink.txt', 'x')) },
  { name: 'symlink-chain', rule: /"d\/l".*symlink to s\/\.\.\/\.\. resolves outside/, archive: () => tarGz(dir('d/'), symlink('d/s', '..'), symlink('d/l', 's/../..'), file('d/l/pp-escape-chain.txt', 'x')) },
  { name: 'symlink-late-chain', rule: /"a\/l".*symlink to x\/\.\. resolves outside/, archive: () => tarGz(dir('a/'), symlink('a/l', 'x/..'), symlink('a/x', '..')) },
  { name: 'symlink-write-through', rule: /"sub\/file\.txt".*its parent sub is a symlink/, archive: () => tarGz(dir('real/'), symlink('sub', 'real'), file('sub/file.txt', 'x')) },
  { name: 'hardlink-escape', rule: /"passwd".*hard link to \.\.\/\.\.\/.*: hard link target has a '\.\.' component/, archive: () => tarGz(benign(), hardlink('passwd', '../../../../../../etc/passwd')) },
  { name: 'hardlink-absolute', rule: /"shadow".*hard link to \/etc\/shadow: absolute hard link target/, archive: () => tarGz(benign(), hardlink('shadow', '/etc/shadow')) },
  { name: 'hardlink-unknown', rule: /"h".*hard link to etc\/hostname, which is not a regular file extracted earlier/, archive: () => tarGz(benign(), hardlink('h', 'etc/hostname')) },
  { name: 'hardlink-to-symlink', rule: /"h".*hard link to s, which is not a regular file/, archive: () => tarGz(symlink('s', 'bin'), hardlink('h', 's')) },
  { name: 'char-device', rule: /"dev\/null".*CharacterDevice entries are not allowed/, archive: () => tarGz(dir('dev/'), node('dev/null', 'CharacterDevice', 1, 3)) },
  { name: 'block-device', rule: /"dev\/sda".*BlockDevice entries are not allowed/, archive: () => tarGz(dir('dev/'), node('dev/sda', 'BlockDevice', 8, 0)) },
  { name: 'fifo', rule: /"pipe".*FIFO entries are not allowed/, archive: () => tarGz(benign(), node('pipe', 'FIFO')) },
  {
    name: 'oversize', rule: /"zeros\.bin".*more than 1048576 bytes \(--max-bytes/, limits: { maxBytes: 1 << 20 },
    archive: () => tarGz(benign(), file('zeros.bin', Buffer.alloc(4 << 20))),
  },
  {
    name: 'too-many-entries', rule: /"f-20".*more than 20 entries \(--max-entries\)/, limits: { maxEntries: 20 },
    archive: () => tarGz(...Array.from({ length: 40 }, (_, i) => file(`f-${i}`, 'x'))),
  },
  {
    // Zeros after the end-of-archive blocks are dropped unread, so only the ratio stops them: 64 MiB here, in
    // 64 gzip members of 1 KB each; without --max-ratio, gigabytes of them would inflate before --max-bytes.
    name: 'zero-tail-bomb', rule: /inflates more than 200:1 \(\d+ bytes from the first \d+ compressed bytes\) \(--max-ratio\)/,
    archive: () => Buffer.concat([tarGz(benign()), ...Array<Buffer>(64).fill(gzipSync(Buffer.alloc(1 << 20), { level: 9 }))]),
  },
  { name: 'truncated-gzip', rule: /truncated gzip stream/, archive: () => { const gz = tarGz(benign(), file('data', Buffer.alloc(64 << 10, 7))); return gz.subarray(0, gz.length - 40); } },
  { name: 'truncated-tar', rule: /damaged tar archive: Truncated input/, archive: () => gzipSync(Buffer.concat([...benign(), ...file('data', Buffer.alloc(8192, 1))]).subarray(0, 2048)) },
  { name: 'not-gzip', rule: /not a valid gzip stream/, archive: () => Buffer.from('<html>this is an error page, not an artifact</html>\n') },
  {
    name: 'bad-checksum', rule: /damaged tar archive: .*checksum/,
    archive: () => {
      const blocks = Buffer.concat([...benign(), ...file('data', 'x'), Buffer.alloc(1024)]);
      blocks.writeUInt8(blocks.readUInt8(1537) ^ 0x01, 1537); // a byte of the name in the header of "data": its checksum no longer matches
      return gzipSync(blocks);
    },
  },
];
