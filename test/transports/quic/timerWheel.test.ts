/**
 * The QUIC timer wheel on a fake clock (node:test mock timers drive both setTimeout and
 * Date.now): timers fire never early and at most one tick late, cancels and reschedules hold,
 * and deadlines beyond the wheel's span are refiled, not lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimerWheel, type WheelEntry } from '../../../server/transports/quic/timerWheel.ts';

type Entry = WheelEntry & { name: string };
const entry = (name: string): Entry => ({ name, wheelDeadline: Number.POSITIVE_INFINITY, wheelSlot: -1 });

const TICK = 4;
const SLOTS = 16; // spans 64 ms: later deadlines must be refiled

function wheelWithLog() {
  const fired: { name: string; at: number }[] = [];
  const wheel = new TimerWheel<Entry>({
    tickMs: TICK,
    slots: SLOTS,
    now: () => Date.now(),
    onFire: (e, now) => fired.push({ name: e.name, at: now }),
  });
  return { wheel, fired };
}

/** Advances the fake clock 1 ms at a time, so every armed timeout runs when it is due. */
function advance(t: { mock: { timers: { tick(ms: number): void } } }, ms: number): void {
  for (let i = 0; i < ms; i++) t.mock.timers.tick(1);
}

test('every timer fires at or after its deadline, and at most one tick late', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const { wheel, fired } = wheelWithLog();
  const start = Date.now();
  const deadlines = new Map([
    ['soon', start + 1],
    ['mid', start + 17],
    ['edge', start + TICK * SLOTS],
    ['beyond-span', start + 250],
  ]);
  for (const [name, deadline] of deadlines) wheel.schedule(entry(name), deadline);
  assert.equal(wheel.size, 4);
  advance(t, 300);
  assert.deepEqual(fired.map((f) => f.name).sort(), [...deadlines.keys()].sort());
  for (const { name, at } of fired) {
    const deadline = deadlines.get(name)!;
    assert.ok(at >= deadline, `${name} fired early: at ${at - start} ms, due ${deadline - start} ms`);
    assert.ok(at <= deadline + TICK, `${name} fired late: at ${at - start} ms, due ${deadline - start} ms`);
  }
  assert.equal(wheel.size, 0);
});

test('a cancelled timer never fires; a rescheduled one fires at its new deadline only', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 2_000_000 });
  const { wheel, fired } = wheelWithLog();
  const start = Date.now();
  const cancelled = entry('cancelled');
  const moved = entry('moved');
  wheel.schedule(cancelled, start + 10);
  wheel.schedule(moved, start + 10);
  wheel.cancel(cancelled);
  wheel.schedule(moved, start + 40);
  advance(t, 30);
  assert.equal(fired.length, 0, 'nothing is due before 40 ms');
  advance(t, 20);
  assert.deepEqual(
    fired.map((f) => f.name),
    ['moved'],
  );
  assert.ok(fired[0]!.at >= start + 40);
  assert.equal(cancelled.wheelSlot, -1);
});

test('a callback may schedule its own entry again (a keep-alive), and it fires again', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 3_000_000 });
  const times: number[] = [];
  const keepAlive = entry('keep-alive');
  const wheel: TimerWheel<Entry> = new TimerWheel<Entry>({
    tickMs: TICK,
    slots: SLOTS,
    now: () => Date.now(),
    onFire: (e, now) => {
      times.push(now);
      if (times.length < 3) wheel.schedule(e, now + 20);
    },
  });
  const start = Date.now();
  wheel.schedule(keepAlive, start + 20);
  advance(t, 100);
  assert.equal(times.length, 3);
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 20);
  assert.equal(wheel.size, 0);
});

test('clear() forgets every entry: nothing fires afterwards', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 4_000_000 });
  const { wheel, fired } = wheelWithLog();
  const start = Date.now();
  for (let i = 0; i < 10; i++) wheel.schedule(entry(`e${i}`), start + 5 + i * 7);
  wheel.clear();
  advance(t, 200);
  assert.deepEqual(fired, []);
  assert.equal(wheel.size, 0);
});
