import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compare, formatComparison, type SideResult } from '../../bench/peerComparison.ts';

function side(
  perServerCore: number | undefined,
  p99 = 2,
  probes: SideResult['probes'] = [{ activeRooms: 7, out: 3_000, loss: 0, serverCpu: 0.1 }],
): SideResult {
  return {
    probes,
    maxSustained: 1000,
    bound: 'server',
    perServerCore,
    halfLoad: { p50: 1, p99 },
    memory: { idlePerPeer: 100_000, speakingPerPeer: 200_000 },
  };
}

/** One load probe of a side (`SideResult.probes`), without loss unless `loss` is given. */
function probe(activeRooms: number, out: number, serverCpu: number, loss = 0): SideResult['probes'][number] {
  return { activeRooms, out, loss, serverCpu };
}

test('grid/LiveKit ratios pair each grid path with LiveKit at the same room size, on medians of the runs', () => {
  const rows = compare([
    { side: 'web', peers: 5, result: side(30_000) },
    { side: 'livekit', peers: 5, result: side(10_000) },
    { side: 'quic', peers: 10, result: side(90_000) },
    { side: 'livekit', peers: 10, result: side(20_000) },
    { side: 'web', peers: 5, result: side(40_000) },
    { side: 'livekit', peers: 5, result: side(30_000) },
    { side: 'quic', peers: 10, result: side(80_000, 4) },
    { side: 'livekit', peers: 10, result: side(40_000) },
  ]);
  const row = (s: string, peers: number) => rows.find((r) => r.side === s && r.peers === peers)!;
  assert.equal(row('web', 5).runs, 2);
  assert.equal(row('web', 5).perServerCore, 35_000);
  assert.equal(row('livekit', 5).perServerCore, 20_000);
  assert.equal(row('web', 5).ratioToLiveKit, 1.75);
  assert.equal(row('quic', 10).ratioToLiveKit, 85_000 / 30_000);
  assert.equal(row('quic', 10).p99, 3);
  assert.equal(row('livekit', 10).ratioToLiveKit, undefined);
  const table = formatComparison(rows);
  assert.match(table, /rooms of 5, 2 speaking/);
  assert.match(table, /grid web .* 1\.75 ×/);
  assert.match(table, /grid QUIC \(native engine\) .* 2\.83 ×/);
});

test('no ratio without a LiveKit figure at that room size (not measured, or its server never loaded)', () => {
  const rows = compare([
    { side: 'web', peers: 5, result: side(30_000) },
    { side: 'livekit', peers: 5, result: side(undefined) },
    { side: 'quic', peers: 10, result: side(90_000) },
  ]);
  assert.deepEqual(
    rows.map((r) => r.ratioToLiveKit),
    [undefined, undefined, undefined],
  );
  assert.doesNotMatch(formatComparison(rows).split('\n')[2]!, /[0-9] ×\s+7 rooms/, 'no per-core ratio');
});

test('the equal-load figure takes the most rooms every side carried with < 1% loss in every run', () => {
  const rows = compare([
    { side: 'web', peers: 5, result: side(undefined, 2, [probe(7, 2_800, 0.2), probe(13, 5_200, 0.4)]) },
    { side: 'quic', peers: 5, result: side(undefined, 2, [probe(7, 2_800, 0.1), probe(13, 5_200, 0.2)]) },
    {
      side: 'livekit',
      peers: 5,
      // 13 rooms lost 5%: the comparison falls back to 7 rooms for every side.
      result: side(undefined, 2, [probe(7, 2_800, 0.4), probe(13, 4_940, 0.8, 0.05)]),
    },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.side, r.equalLoad]),
    [
      ['web', { activeRooms: 7, out: 2_800, perServerCore: 14_000 }],
      ['quic', { activeRooms: 7, out: 2_800, perServerCore: 28_000 }],
      ['livekit', { activeRooms: 7, out: 2_800, perServerCore: 7_000 }],
    ],
  );
  assert.deepEqual(
    rows.map((r) => r.equalLoadRatio),
    [2, 4, undefined],
  );
});

test('the busiest figure takes each side at its own highest probe with < 1% loss', () => {
  const rows = compare([
    // 20 rooms lost 2%: the web side's busiest clean probe is 13 rooms.
    {
      side: 'web',
      peers: 5,
      result: side(undefined, 2, [probe(13, 5_200, 0.2), probe(20, 7_800, 0.3, 0.02)]),
    },
    {
      side: 'livekit',
      peers: 5,
      result: side(undefined, 2, [probe(13, 5_200, 0.4), probe(40, 16_000, 0.5)]),
    },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.side, r.busiest, r.busiestRatio]),
    [
      ['web', { out: 5_200, perServerCore: 26_000 }, 26_000 / 32_000],
      ['livekit', { out: 16_000, perServerCore: 32_000 }, undefined],
    ],
  );
});
