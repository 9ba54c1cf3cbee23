import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAILED_FILE, flipFingerprint, heldReason, readFailedFlip, recordFailedFlip } from '../../../agents/setlive/failed-flip.js';
import { parseAppIntent } from '../../../shared/intent/schema.js';
import { intentFor } from './helpers.js';

const intent = (o: Parameters<typeof intentFor>[2]) => parseAppIntent(intentFor('/srv/web', 8080, o));

describe('failed flips', () => {
  it('fingerprints the attempt: the same intent gives the same print, a changed service or health check another', () => {
    const base = flipFingerprint(intent({ live: '3' }), '3');
    expect(flipFingerprint(intent({ live: '3', prepared: ['2'] }), '3')).toBe(base);
    expect(flipFingerprint(intent({ live: '3', env: { GREETING: 'x' } }), '3')).not.toBe(base);
    expect(flipFingerprint(intent({ live: '3', healthTimeoutMs: 2000 }), '3')).not.toBe(base);
  });

  it('holds only the same target and attempt, and only until the hold is over', () => {
    const failed = { target: '/srv/web/installs/web_3', fingerprint: 'f1', atMs: Date.UTC(2026, 10, 24, 3, 0, 0), reason: 'HTTP 503' };
    const at = failed.atMs + 1000;
    expect(heldReason(failed, failed.target, 'f1', 600_000, at)).toBe(
      'this version failed at 2026-11-24T03:00:00.000Z and is not tried again before 2026-11-24T03:10:00.000Z unless its intent changes: HTTP 503',
    );
    expect(heldReason(failed, failed.target, 'f2', 600_000, at)).toBeUndefined();
    expect(heldReason(failed, '/srv/web/installs/web_4', 'f1', 600_000, at)).toBeUndefined();
    expect(heldReason(failed, failed.target, 'f1', 600_000, failed.atMs + 600_000)).toBeUndefined();
    expect(heldReason(failed, failed.target, 'f1', 0, at)).toBeUndefined();
  });

  it('records a failed flip in the stage folder and reads it back; a damaged record counts as none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pp-failed-flip-'));
    try {
      expect(await readFailedFlip(dir)).toBeUndefined();
      const flip = { target: '/srv/web/installs/web_3', fingerprint: 'f1', atMs: 1, reason: 'HTTP 503' };
      await recordFailedFlip(dir, flip);
      expect(await readFailedFlip(dir)).toEqual(flip);
      await writeFile(join(dir, FAILED_FILE), '{"target": 3');
      expect(await readFailedFlip(dir)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
