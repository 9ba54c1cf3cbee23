import { describe, expect, it } from 'vitest';
import type { AppOutcome } from '../../../shared/loop/types.js';
import { HealthState } from '../../../shared/metrics/health.js';

/** A HealthState on a clock the test moves. */
function state() {
  let now = 1_000_000;
  const health = new HealthState({ resyncMs: 60_000, pendingWarnMs: 600_000, now: () => now });
  const pass = (outcomes: AppOutcome[], extra: { observeError?: string; realityError?: string } = {}) =>
    health.hooks.passDone!({ outcomes, seconds: 0.01, ...extra });
  return { health, pass, advance: (ms: number) => (now += ms) };
}

const converged: AppOutcome = { app: 'web', status: 'converged', attempts: 0 };
const pending: AppOutcome = { app: 'web', status: 'pending', reason: 'waiting for install of 3', attempts: 0 };

describe('what /healthz and the Consul check say', () => {
  it('warns while starting, passes once a pass is done, and says stuck when passes stop', () => {
    const { health, pass, advance } = state();
    expect(health.check()).toEqual({ status: 'warning', output: 'starting: no pass yet' });
    expect(health.healthz()).toEqual({ ok: false, reason: 'starting: no pass yet after 0s' });
    pass([converged]);
    expect(health.check()).toEqual({ status: 'passing', output: '1 app converged' });
    expect(health.healthz()).toEqual({ ok: true, reason: 'ok: 1 app converged' });
    advance(151_000); // more than twice the resync plus 30 s
    expect(health.check()).toEqual({ status: 'critical', output: 'stuck: no pass for 151s' });
    expect(health.healthz()).toEqual({ ok: false, reason: 'no pass for 151s (expected at least every 60s)' });
  });

  it('warns about an app pending longer than the threshold, counted from when it became pending', () => {
    const { health, pass, advance } = state();
    pass([pending]);
    advance(300_000);
    pass([{ ...pending, reason: 'applying: install 3' }]); // still pending, another reason: same start
    expect(health.check().status).toBe('passing');
    expect(health.nextPendingWarningIn()).toBe(300_000);
    advance(300_000);
    pass([{ ...pending, reason: 'applying: install 3' }]);
    expect(health.check()).toEqual({ status: 'warning', output: 'web pending for 600s: applying: install 3' });
    pass([converged]);
    expect(health.check().status).toBe('passing');
  });

  it('is critical when an app failed, when the watch keeps failing, or reality cannot be written', () => {
    const { health, pass } = state();
    pass([converged, { app: 'api', version: '2', status: 'failed', error: 'sha256 mismatch\nsecond line', attempts: 3 }]);
    expect(health.check()).toEqual({ status: 'critical', output: '1 failed: api 2: sha256 mismatch second line' });
    expect(health.healthz()).toEqual({ ok: true, reason: 'ok: 2 apps: 1 converged, 0 pending, 1 failed' });
    pass([converged]);
    for (let i = 0; i < 2; i++) health.hooks.watched!(new Error('connect ECONNREFUSED'));
    expect(health.check().status).toBe('passing'); // two failures may be a blip
    expect(health.healthz()).toEqual({ ok: false, reason: 'the store does not answer the watch (for 0s): connect ECONNREFUSED' });
    health.hooks.watched!(new Error('connect ECONNREFUSED'));
    expect(health.check()).toEqual({ status: 'critical', output: 'cannot read intent (3 failures in a row): connect ECONNREFUSED' });
    health.hooks.watched!();
    expect(health.check().status).toBe('passing');
    pass([converged], { realityError: 'HTTP 403: ACL not found' });
    expect(health.check()).toEqual({ status: 'critical', output: 'cannot write reality: HTTP 403: ACL not found' });
    health.hooks.stopped!([]);
    expect(health.check().output).toMatch(/^stopped at /);
    expect(health.healthz()).toEqual({ ok: false, reason: 'stopped' });
  });
});
