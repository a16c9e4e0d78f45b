import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OdinServerAutoscaling } from '../../operator/api/types.ts';
import { recommendReplicas, stabilize } from '../../operator/autoscale/recommend.ts';
import { type PodView, planScaleDown } from '../../operator/autoscale/scaleDown.ts';

const load = (loadPercent: number, min = 1, max = 10): OdinServerAutoscaling => ({
  enabled: true,
  minReplicas: min,
  maxReplicas: max,
  target: { type: 'Load', loadPercent },
  scaleDownDelaySeconds: 60,
});
const s = (loadValue: number, peers = 0, draining = false) => ({ load: loadValue, peers, draining });

test('Load: ceil(sum of load / target), clamped to min/max', () => {
  assert.equal(recommendReplicas({ autoscaling: load(60), current: 1, servers: [s(0.75)] }), 2);
  assert.equal(recommendReplicas({ autoscaling: load(60), current: 2, servers: [s(0.25), s(0.25)] }), 1);
  assert.equal(recommendReplicas({ autoscaling: load(60), current: 2, servers: [s(0.6), s(0.6)] }), 2);
  assert.equal(
    recommendReplicas({ autoscaling: load(50, 1, 3), current: 3, servers: [s(1), s(1), s(1)] }),
    3,
  );
  assert.equal(recommendReplicas({ autoscaling: load(50, 2, 3), current: 2, servers: [s(0), s(0)] }), 2);
});

test('no reports: keep the current count', () => {
  assert.equal(recommendReplicas({ autoscaling: load(50), current: 4, servers: [] }), 4);
});

test('FreePeers: keep a buffer of free peer slots', () => {
  const a: OdinServerAutoscaling = { ...load(50), target: { type: 'FreePeers', freePeers: 100 } };
  assert.equal(recommendReplicas({ autoscaling: a, current: 1, servers: [s(0.1, 150)], maxPeers: 200 }), 2);
  assert.equal(
    recommendReplicas({ autoscaling: a, current: 3, servers: [s(0, 0), s(0, 0), s(0, 0)], maxPeers: 200 }),
    1,
  );
});

test('stabilisation: up at once, down only after a whole window agrees', () => {
  let history = [] as { at: number; replicas: number }[];
  const step = (now: number, recommendation: number, current: number) => {
    const r = stabilize({ history, now, windowMs: 10_000, recommendation, current });
    history = r.history;
    return r.replicas;
  };
  assert.equal(step(0, 3, 2), 3, 'scale up immediately');
  assert.equal(step(1000, 1, 3), 3, 'down waits for the window');
  assert.equal(step(9000, 1, 3), 3);
  assert.equal(step(10_500, 1, 3), 1, 'the window has only 1s now');
  assert.equal(
    stabilize({ history: [], now: 0, windowMs: 5000, recommendation: 1, current: 3 }).replicas,
    3,
    'a fresh operator waits',
  );
  assert.equal(stabilize({ history: [], now: 0, windowMs: 0, recommendation: 1, current: 3 }).replicas, 1);
});

const pod = (name: string, peers: number, extra: Partial<PodView> = {}): PodView => ({
  name,
  ready: true,
  createdAt: 0,
  draining: false,
  markedRemovable: false,
  report: { load: peers / 10, peers, rooms: peers > 0 ? 1 : 0, clients: peers },
  ...extra,
});

test('scale-down drains the least-loaded server and keeps the replicas until it is empty', () => {
  const plan = planScaleDown({
    pods: [pod('a', 3), pod('b', 1)],
    desired: 1,
    current: 2,
    reportsAvailable: true,
  });
  assert.deepEqual(plan, { draining: ['b'], removable: [], deploymentReplicas: 2 });
});

test('an empty draining server gets the deletion cost first, then the replicas drop', () => {
  const marked = planScaleDown({
    pods: [pod('a', 3), pod('b', 0, { draining: true })],
    desired: 1,
    current: 2,
    reportsAvailable: true,
  });
  assert.deepEqual(marked, { draining: ['b'], removable: ['b'], deploymentReplicas: 2 });
  const lowered = planScaleDown({
    pods: [pod('a', 3), pod('b', 0, { draining: true, markedRemovable: true })],
    desired: 1,
    current: 2,
    reportsAvailable: true,
  });
  assert.deepEqual(lowered, { draining: ['b'], removable: ['b'], deploymentReplicas: 1 });
  // While the ReplicaSet removes it, it keeps its marks.
  const going = planScaleDown({
    pods: [pod('a', 3), pod('b', 0, { draining: true, markedRemovable: true })],
    desired: 1,
    current: 1,
    reportsAvailable: true,
  });
  assert.deepEqual(going, { draining: ['b'], removable: ['b'], deploymentReplicas: 1 });
});

test('a draining server stays the one drained even when another empties first; scale-up takes it back', () => {
  const plan = planScaleDown({
    pods: [pod('a', 0), pod('b', 2, { draining: true })],
    desired: 1,
    current: 2,
    reportsAvailable: true,
  });
  assert.deepEqual(plan.draining, ['b']);
  const up = planScaleDown({
    pods: [pod('a', 0), pod('b', 2, { draining: true })],
    desired: 2,
    current: 2,
    reportsAvailable: true,
  });
  assert.deepEqual(up, { draining: [], removable: [], deploymentReplicas: 2 });
});

test('surge pods of a rolling update are not excess', () => {
  const plan = planScaleDown({
    pods: [pod('a', 1), pod('b', 1), pod('c', 0)],
    desired: 2,
    current: 2,
    reportsAvailable: true,
  });
  assert.deepEqual(plan, { draining: [], removable: [], deploymentReplicas: 2 });
});

test('without reports (external supervisor) a drained pod is removable at once', () => {
  const plan = planScaleDown({
    pods: [pod('a', 0, { report: undefined }), pod('b', 0, { report: undefined, createdAt: 5 })],
    desired: 1,
    current: 2,
    reportsAvailable: false,
  });
  assert.deepEqual(plan, { draining: ['b'], removable: ['b'], deploymentReplicas: 2 });
});

test('a draining Ready server that never reports is removable after the silence timeout', () => {
  const pod = (name: string, silentForMs?: number): PodView => ({
    name,
    ready: true,
    createdAt: 0,
    draining: true,
    markedRemovable: false,
    ...(silentForMs !== undefined ? { silentForMs } : {}),
  });
  const plan = (silentForMs: number) =>
    planScaleDown({
      pods: [
        pod('a', silentForMs),
        { ...pod('b'), draining: false, report: { load: 0.1, peers: 1, rooms: 1, clients: 1 } },
      ],
      desired: 1,
      current: 2,
      reportsAvailable: true,
      silentRemovableMs: 60_000,
    });
  assert.deepEqual(plan(59_999).removable, [], 'silent, but not for long: it may still hold a conversation');
  assert.deepEqual(plan(60_000).removable, ['a']);
  assert.deepEqual(plan(60_000).draining, ['a']);
});
