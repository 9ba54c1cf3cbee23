import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { checkLink, entryPath, resolveLink } from '../../../agents/preparer/entry-rules.js';
import { appOfInstall } from '../../../shared/install-layout.js';
import { parseSize, preparerOptions } from '../../../agents/preparer/options.js';
import { progressReporter } from '../../../agents/preparer/progress.js';

describe('entry rules', () => {
  it('normalises entry paths and refuses absolute ones and .. components', () => {
    expect(entryPath('./a//b/./c')).toBe('a/b/c');
    expect(entryPath('./')).toBe('');
    expect(() => entryPath('/etc/passwd')).toThrow(/refused entry "\/etc\/passwd": absolute path/);
    expect(() => entryPath('a/../../b')).toThrow(/'\.\.' component/);
    expect(() => entryPath('a\0b')).toThrow(/NUL byte/);
  });

  it("resolves symlinks through the archive's other links, as the kernel would", () => {
    const links = new Map([
      ['lib/current', 'v2'],
      ['lib/v2/up', '../..'],
      ['d/s', '..'],
      ['loop/a', 'b'],
      ['loop/b', 'a'],
    ]);
    expect(resolveLink('bin/tool', '../lib/current/bin/tool', links)).toBe('lib/v2/bin/tool');
    expect(resolveLink('x', 'lib/v2/up', links)).toBe('');
    expect(resolveLink('x', 'lib/v2/up/..', links)).toBeUndefined();
    expect(resolveLink('d/l', 's/../..', links)).toBeUndefined(); // lexically "d", really the install's parent
    expect(resolveLink('loop/c', 'a/file', links)).toBeUndefined();
    expect(() => checkLink('ok', 'lib/current', links)).not.toThrow();
    expect(() => checkLink('abs', '/usr/bin/env', links)).toThrow(/refused entry "abs": symlink to absolute path/);
  });

  it('attributes an install folder to the longest app name among those sharing a basedir', () => {
    expect(appOfInstall('web_a_1', ['web', 'web_a'])).toBe('web_a');
    expect(appOfInstall('web_a_1', ['web'])).toBe('web');
    expect(appOfInstall('web_', ['web'])).toBeUndefined();
    expect(appOfInstall('api_1', ['web'])).toBeUndefined();
  });
});

describe('options and progress', () => {
  const MORE = { 'max-ratio': 200, 'max-download-bytes': '5G', 'download-deadline-seconds': 3600 };
  it('parses sizes and refuses nonsense with the expected form', () => {
    expect(parseSize('512M')).toBe(512 << 20);
    expect(parseSize('4G')).toBe(4 * 2 ** 30);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseSize('100')).toBe(100);
    expect(() => parseSize('lots')).toThrow('expected a size such as 512M, 4G or a number of bytes, got "lots"');
    expect(() =>
      preparerOptions({
        keep: 2,
        'max-bytes': '1G',
        'max-entries': 10,
        'ca-file': '/nonexistent/ca.pem',
        'download-timeout-seconds': 5,
        ...MORE,
        progress: 'auto',
      }),
    ).toThrow(/^--ca-file \/nonexistent\/ca\.pem: ENOENT/);
    expect(
      preparerOptions({ keep: 2, 'max-bytes': '1G', 'max-entries': 10, 'download-timeout-seconds': 5, ...MORE, progress: 'auto' }, false),
    ).toMatchObject({ progress: 'log', maxBytes: 2 ** 30, maxRatio: 200, maxDownloadBytes: 5 * 2 ** 30, downloadDeadlineMs: 3_600_000 });
  });

  it('logs download progress at most every few seconds when not on a terminal', () => {
    const lines: Array<{ msg: string; bytes: number }> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    let now = 0;
    const progress = progressReporter('log', 'web 1', 100 << 20, pino(sink), () => now);
    for (now = 0; now <= 12_000; now += 1000) progress.update((now / 1000) * (8 << 20));
    expect(lines.map((l) => l.msg)).toEqual(['web 1: 40.0/100.0 MB (40%) 8.0 MB/s', 'web 1: 80.0/100.0 MB (80%) 8.0 MB/s']);
  });
});
