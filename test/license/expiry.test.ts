import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maxTimeoutMs, watchLicenseExpiry } from '../../common/license/index.ts';

const day = 24 * 60 * 60 * 1000;

/** A fake clock whose timers run when time is advanced past them. */
function fakeClock(start: number) {
  let now = start;
  let next = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const delays: number[] = [];
  return {
    delays,
    pending: () => timers.size,
    now: () => now,
    setTimeout: (callback: () => void, ms: number) => {
      delays.push(ms);
      const id = next++;
      timers.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimeout: (handle: unknown) => {
      timers.delete(handle as number);
    },
    /** Runs timers in order until `until` (inclusive). */
    advance(until: number) {
      for (;;) {
        const due = [...timers.entries()]
          .filter(([, t]) => t.at <= until)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].callback();
      }
      now = Math.max(now, until);
    },
    /** Moves the clock without running timers, as a suspended machine sees it. */
    jump(to: number) {
      now = to;
    },
  };
}

describe('watchLicenseExpiry', () => {
  test('a licence 60 days out fires once, at valid_until, through timeouts no longer than 2^31-1 ms', () => {
    const clock = fakeClock(0);
    let fired = 0;
    let firedAt = -1;
    watchLicenseExpiry(
      { validUntil: new Date(60 * day) },
      () => {
        fired++;
        firedAt = clock.now();
      },
      clock,
    );
    clock.advance(60 * day - 1);
    assert.equal(fired, 0);
    clock.advance(61 * day);
    assert.equal(fired, 1);
    assert.equal(firedAt, 60 * day);
    assert.ok(clock.delays.length >= 4, `${clock.delays.length} timeouts`);
    assert.ok(clock.delays.every((ms) => ms >= 0 && ms <= maxTimeoutMs));
    assert.equal(clock.pending(), 0);
  });

  test('a licence already expired fires asynchronously, not during the call', () => {
    const clock = fakeClock(1000);
    let fired = false;
    watchLicenseExpiry(
      { validUntil: new Date(500) },
      () => {
        fired = true;
      },
      clock,
    );
    assert.equal(fired, false);
    clock.advance(1000);
    assert.equal(fired, true);
  });

  test('cancel() stops the watch', () => {
    const clock = fakeClock(0);
    let fired = false;
    const watch = watchLicenseExpiry(
      { validUntil: new Date(30 * day) },
      () => {
        fired = true;
      },
      clock,
    );
    clock.advance(26 * day);
    watch.cancel();
    clock.advance(40 * day);
    assert.equal(fired, false);
    assert.equal(clock.pending(), 0);
  });

  test('each step re-reads the clock: after a jump past valid_until (e.g. a suspend) it fires at the next step', () => {
    const clock = fakeClock(0);
    let firedAt = -1;
    watchLicenseExpiry(
      { validUntil: new Date(50 * day) },
      () => {
        firedAt = clock.now();
      },
      clock,
    );
    clock.advance(0); // schedules the first 24.8-day timeout
    clock.jump(55 * day);
    clock.advance(55 * day);
    assert.equal(firedAt, 55 * day);
  });

  test('with real timers, a licence ending in 30 ms fires', async () => {
    // The watch's timers are unref'd; something else must keep the test process alive.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await new Promise<void>((resolve) => {
        watchLicenseExpiry({ validUntil: new Date(Date.now() + 30) }, resolve);
      });
    } finally {
      clearInterval(keepAlive);
    }
  });
});
