import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  allocate,
  PortLedger,
  planPorts,
  portsCondition,
  type Reservation,
} from '../../operator/controller/portAllocation.ts';
import { formatPorts, parsePorts } from '../../operator/render/hostPorts.ts';
import { PORTS_ANNOTATION } from '../../operator/render/labels.ts';
import { odinServer } from './helpers.ts';
import { gridPod } from './podFixtures.ts';

const server = (range = { min: 7000, max: 7999 }, extra: Record<string, unknown> = {}, name = 'voice') =>
  odinServer({ networking: { mode: 'PortRange', portRange: range }, ...extra }, name);

/** A scheduled pod; `ports` as its annotation says. */
function pod(
  name: string,
  node: string | undefined,
  options: {
    server?: string;
    ports?: string;
    createdAt?: string;
    phase?: string;
    terminating?: boolean;
  } = {},
): V1Pod {
  const p = gridPod(name, {
    uid: `uid-${name}`,
    ...(options.server ? { server: options.server } : {}),
    ...(options.ports ? { annotations: { [PORTS_ANNOTATION]: options.ports } } : {}),
    ...(options.createdAt ? { createdAt: options.createdAt } : {}),
    ...(options.phase ? { phase: options.phase } : {}),
    ...(options.terminating ? { terminating: true } : {}),
  });
  if (node) p.spec!.nodeName = node;
  return p;
}

const none = new Map<string, Reservation>();

test('allocate: the lowest free ports of the range, none when too few are free', () => {
  assert.deepEqual(allocate({ min: 7000, max: 7009 }, new Set([7000, 7002]), ['http', 'webrtc', 'metrics']), {
    http: 7001,
    webrtc: 7003,
    metrics: 7004,
  });
  assert.equal(
    allocate({ min: 7000, max: 7003 }, new Set([7001, 7002]), ['http', 'webrtc', 'metrics']),
    undefined,
  );
  assert.deepEqual(allocate({ min: 7000, max: 7002 }, new Set(), ['http', 'webrtc', 'metrics']), {
    http: 7000,
    webrtc: 7001,
    metrics: 7002,
  });
});

test('the annotation is GRID_*_PORT lines; anything else is not an assignment', () => {
  const text = formatPorts({ http: 7000, webrtc: 7001, metrics: 7002, quic: 7003 });
  assert.equal(
    text,
    'GRID_HTTP_PORT=7000\nGRID_HTTP_WEBRTC_PORT=7001\nGRID_QUIC_PORT=7003\nGRID_METRICS_PORT=7002\n',
  );
  assert.deepEqual(parsePorts(text), { http: 7000, webrtc: 7001, quic: 7003, metrics: 7002 });
  for (const bad of [
    '',
    'GRID_HTTP_PORT=70000',
    'GRID_VERBOSITY=3',
    'GRID_HTTP_PORT=1\nGRID_HTTP_PORT=2',
    'x',
  ])
    assert.equal(parsePorts(bad), undefined, bad);
});

test('pods of two OdinServers on one node get distinct ports; other nodes start from the bottom', () => {
  const voice = server();
  const chat = server(undefined, {}, 'chat');
  const a = pod('voice-a', 'node-1');
  const b = pod('voice-b', 'node-2');
  const first = planPorts({ server: voice, pods: [a, b], allPods: [a, b], reservations: none });
  assert.deepEqual(
    first.assign.map((x) => [x.pod, x.node, x.ports]),
    [
      ['voice-a', 'node-1', { http: 7000, webrtc: 7001, metrics: 7002 }],
      ['voice-b', 'node-2', { http: 7000, webrtc: 7001, metrics: 7002 }],
    ],
  );
  // The cache shows voice-a's annotation: chat's pod on node-1 gets the next ports. Its [quic]
  // shares http's number (UDP beside TCP): native clients dial QUIC, and fall back to HTTP/2, at
  // the one endpoint the supervisor hands out.
  const annotated = pod('voice-a', 'node-1', { ports: formatPorts(first.assign[0]!.ports) });
  const c = pod('chat-a', 'node-1', { server: 'chat' });
  const quicChat = server(undefined, { config: { quic: {} } }, 'chat');
  const second = planPorts({ server: quicChat, pods: [c], allPods: [annotated, b, c], reservations: none });
  assert.deepEqual(second.assign[0]!.ports, { http: 7003, webrtc: 7004, metrics: 7005, quic: 7003 });
  assert.deepEqual(second.shortages, []);
  // The next pod on node-1 starts after chat's three numbers.
  const annotatedChat = pod('chat-a', 'node-1', {
    server: 'chat',
    ports: formatPorts(second.assign[0]!.ports),
  });
  const d = pod('chat-b', 'node-1', { server: 'chat' });
  const third = planPorts({
    server: quicChat,
    pods: [d],
    allPods: [annotated, annotatedChat, d],
    reservations: none,
  });
  assert.deepEqual(third.assign[0]!.ports, { http: 7006, webrtc: 7007, metrics: 7008, quic: 7006 });
  void chat;
});

test('reservations: ports given out but not yet in the cache are not given again', () => {
  const ledger = new PortLedger();
  const a = pod('voice-a', 'node-1');
  const c = pod('chat-a', 'node-1', { server: 'chat' });
  const all = [a, c];
  const first = planPorts({ server: server(), pods: [a], allPods: all, reservations: ledger.reservations });
  ledger.reserve(first);
  // chat's reconcile runs before the cache shows voice-a's annotation.
  ledger.prune(all);
  const second = planPorts({
    server: server(undefined, {}, 'chat'),
    pods: [c],
    allPods: all,
    reservations: ledger.reservations,
  });
  assert.deepEqual(second.assign[0]!.ports, { http: 7003, webrtc: 7004, metrics: 7005 });
  // A pod whose write failed gets its reservation again, not new ports.
  const again = planPorts({ server: server(), pods: [a], allPods: all, reservations: ledger.reservations });
  assert.deepEqual(again.assign[0]!.ports, first.assign[0]!.ports);
  // Once the cache shows the annotation, or the pod is gone, the reservation goes.
  ledger.reserve(second);
  ledger.prune([pod('voice-a', 'node-1', { ports: formatPorts(first.assign[0]!.ports) })]);
  assert.equal(ledger.reservations.size, 0);
});

test('a pod not on a node, terminating or with ports already gets none; assigned pods are left alone', () => {
  const pending = pod('voice-p', undefined);
  const done = pod('voice-d', 'node-1', {
    ports: 'GRID_HTTP_PORT=7100\nGRID_HTTP_WEBRTC_PORT=7101\nGRID_METRICS_PORT=7102\n',
  });
  const going = pod('voice-t', 'node-1', { terminating: true });
  const plan = planPorts({
    server: server(),
    pods: [pending, done, going],
    allPods: [pending, done, going],
    reservations: none,
  });
  assert.deepEqual(plan.assign, []);
});

test('exhaustion: the pods that do not fit wait, reported per node with the numbers; released ports are reused', () => {
  const range = { min: 7000, max: 7007 }; // 8 ports: two 3-port servers, not three
  const a = pod('voice-a', 'node-1', { createdAt: '2026-01-01T00:00:01Z' });
  const b = pod('voice-b', 'node-1', { createdAt: '2026-01-01T00:00:02Z' });
  const c = pod('voice-c', 'node-1', { createdAt: '2026-01-01T00:00:03Z' });
  const plan = planPorts({ server: server(range), pods: [c, b, a], allPods: [a, b, c], reservations: none });
  assert.deepEqual(
    plan.assign.map((x) => x.pod),
    ['voice-a', 'voice-b'],
    'oldest first',
  );
  assert.deepEqual(plan.shortages, [{ node: 'node-1', waiting: ['voice-c'], perPod: 3, free: 2, used: 6 }]);
  const condition = portsCondition(range, plan.shortages);
  assert.equal(condition.ok, false);
  assert.equal(condition.reason, 'PortRangeExhausted');
  assert.equal(
    condition.message,
    'node node-1: 1 pod(s) (voice-c) wait for 3 ports each, but portRange 7000-7007 (8 ports) has 2 free there (6 in use)',
  );
  // voice-a goes (deleted, or finished): its ports are voice-c's.
  const [pa, pb] = plan.assign.map((x) => formatPorts(x.ports));
  const bDone = pod('voice-b', 'node-1', { ports: pb! });
  const aFailed = pod('voice-a', 'node-1', { ports: pa!, phase: 'Failed' });
  const after = planPorts({
    server: server(range),
    pods: [bDone, c],
    allPods: [aFailed, bDone, c],
    reservations: none,
  });
  assert.deepEqual(
    after.assign.map((x) => [x.pod, x.ports]),
    [['voice-c', { http: 7000, webrtc: 7001, metrics: 7002 }]],
  );
  assert.equal(portsCondition(range, after.shortages).ok, true);
  // A terminating pod still drains on its ports: they stay in use.
  const aGoing = pod('voice-a', 'node-1', { ports: pa!, terminating: true });
  const draining = planPorts({
    server: server(range),
    pods: [bDone, c],
    allPods: [aGoing, bDone, c],
    reservations: none,
  });
  assert.equal(draining.shortages.length, 1);
});

test('host ports declared by pods of other modes are never handed out', () => {
  const fixed = pod('other-a', 'node-1', { server: 'other' });
  fixed.spec!.containers = [{ name: 'grid', ports: [{ containerPort: 7000, hostPort: 7000 }] }];
  const a = pod('voice-a', 'node-1');
  const plan = planPorts({ server: server(), pods: [a], allPods: [fixed, a], reservations: none });
  assert.deepEqual(plan.assign[0]!.ports, { http: 7001, webrtc: 7002, metrics: 7003 });
});

test('other modes assign nothing', () => {
  const a = pod('voice-a', 'node-1');
  assert.deepEqual(planPorts({ server: odinServer(), pods: [a], allPods: [a], reservations: none }), {
    assign: [],
    shortages: [],
  });
});
