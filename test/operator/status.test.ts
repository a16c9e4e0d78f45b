import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import type { OdinServerStatus } from '../../operator/api/types.ts';
import type { ServerView } from '../../operator/controller/observe.ts';
import { computeStatus, type StatusInput } from '../../operator/controller/status.ts';
import { odinServer } from './helpers.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');
const view = (name: string, over: Partial<ServerView> = {}): ServerView => ({
  name,
  ready: true,
  createdAt: 0,
  draining: false,
  markedRemovable: false,
  reporting: false,
  ...over,
});
const deployment = (replicas: number, updated = replicas, generation = 1, observed = 1): V1Deployment => ({
  metadata: { name: 'voice', generation },
  spec: { replicas, selector: {}, template: {} },
  status: { observedGeneration: observed, replicas, updatedReplicas: updated },
});
const input = (over: Partial<StatusInput> = {}): StatusInput => ({
  server: odinServer({ replicas: 2 }),
  errors: [],
  pods: [view('voice-a'), view('voice-b')],
  deployment: deployment(2),
  draining: [],
  now: t0,
  ...over,
});
const cond = (s: OdinServerStatus, type: string) => s.conditions?.find((c) => c.type === type);

test('every server ready and no rollout: Ready, not Progressing, not Degraded', () => {
  const s = computeStatus(input(), undefined);
  assert.equal(cond(s, 'Ready')?.status, 'True');
  assert.equal(cond(s, 'Ready')?.reason, 'AllServersReady');
  assert.equal(cond(s, 'Progressing')?.status, 'False');
  assert.equal(cond(s, 'Degraded')?.status, 'False');
  assert.equal(cond(s, 'ConfigValid')?.status, 'True');
  assert.equal(s.replicas, 2);
  assert.equal(s.readyReplicas, 2);
  assert.equal(s.selector, 'odin-grid.io/server=voice');
  assert.equal(s.observedGeneration, 3);
  for (const c of s.conditions ?? []) assert.equal(c.observedGeneration, 3);
});

test('a rollout in flight: Ready=False RollingUpdate, Progressing=True', () => {
  const s = computeStatus(input({ deployment: deployment(2, 1) }), undefined);
  assert.equal(cond(s, 'Ready')?.reason, 'RollingUpdate');
  assert.equal(cond(s, 'Progressing')?.status, 'True');
  assert.equal(cond(s, 'Progressing')?.reason, 'RollingUpdate');
  const unobserved = computeStatus(input({ deployment: deployment(2, 2, 2, 1) }), undefined);
  assert.equal(
    cond(unobserved, 'Progressing')?.reason,
    'RollingUpdate',
    'a generation the Deployment controller has not seen',
  );
});

test('an invalid spec: ConfigValid=False with every path, Degraded=True, nothing Progressing', () => {
  const errors = [
    { path: 'spec.config.http.webrtc_nack_buffer_log2', message: 'must be <= 15' },
    { path: 'spec.config.verbosity', message: 'must be <= 3' },
  ];
  const s = computeStatus(input({ errors }), undefined);
  assert.equal(cond(s, 'ConfigValid')?.status, 'False');
  assert.match(
    cond(s, 'ConfigValid')!.message,
    /webrtc_nack_buffer_log2: must be <= 15; spec\.config\.verbosity/,
  );
  assert.equal(cond(s, 'Degraded')?.reason, 'InvalidConfig');
  assert.equal(cond(s, 'Ready')?.reason, 'InvalidConfig');
  assert.equal(cond(s, 'Progressing')?.status, 'False');
});

test('an API failure of the reconcile: Degraded=True ReconcileError with the message', () => {
  const s = computeStatus(input({ failure: 'HTTP 500: boom' }), undefined);
  assert.equal(cond(s, 'Degraded')?.status, 'True');
  assert.equal(cond(s, 'Degraded')?.reason, 'ReconcileError');
  assert.equal(cond(s, 'Degraded')?.message, 'HTTP 500: boom');
  assert.equal(cond(s, 'Ready')?.status, 'False');
});

test('conditions keep lastTransitionTime until their status changes', () => {
  const first = computeStatus(input(), undefined);
  const same = computeStatus(input({ now: t1 }), first);
  assert.deepEqual(same, first, 'an unchanged world gives an equal status (no write)');
  const changed = computeStatus(
    input({ now: t1, pods: [view('voice-a'), view('voice-b', { ready: false })] }),
    first,
  );
  assert.equal(cond(changed, 'Ready')?.lastTransitionTime, t1.toISOString());
  assert.equal(cond(changed, 'ConfigValid')?.lastTransitionTime, t0.toISOString());
});

test('totals over servers; load is the mean of the reporting ones; draining counted', () => {
  const s = computeStatus(
    input({
      pods: [
        view('voice-b', {
          reporting: true,
          address: '10.0.0.2:4433',
          report: { load: 0.5, clients: 3, rooms: 2, peers: 3 },
        }),
        view('voice-a', { reporting: true, report: { load: 0.25, clients: 1, rooms: 1, peers: 1 } }),
        view('voice-c', { ready: false }),
      ],
      draining: ['voice-b'],
      desiredReplicas: 4,
    }),
    undefined,
  );
  assert.deepEqual(
    s.servers?.map((x) => x.pod),
    ['voice-a', 'voice-b', 'voice-c'],
  );
  assert.equal(s.servers?.[1]?.address, '10.0.0.2:4433');
  assert.equal(s.servers?.[1]?.draining, true);
  assert.equal(s.clients, 4);
  assert.equal(s.rooms, 3);
  assert.equal(s.peers, 4);
  assert.equal(s.load, 0.38);
  assert.equal(s.draining, 1);
  assert.equal(s.desiredReplicas, 4);
  assert.equal(cond(s, 'Progressing')?.reason, 'Draining');
});
