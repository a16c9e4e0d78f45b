import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogThrottle } from '../../server/observability/logThrottle.ts';

test('one line per interval; the next line written carries how many were suppressed', () => {
  let now = 0;
  const throttle = new LogThrottle({ intervalMs: 10_000, now: () => now });
  assert.equal(throttle.take(), 0, 'the first line is written');
  for (let i = 0; i < 500; i++) assert.equal(throttle.take(), undefined);
  now = 9_999;
  assert.equal(throttle.take(), undefined);
  now = 10_000;
  assert.equal(throttle.take(), 501, 'the suppressed lines are counted, not hidden');
  now = 30_000;
  assert.equal(throttle.take(), 0);
});
