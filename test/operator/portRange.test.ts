import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { generateAccessKey } from '../../common/auth/index.ts';
import { fleetCredentials } from '../../operator/controller/apply.ts';
import { OperatorMetrics } from '../../operator/controller/health.ts';
import { Reconciler } from '../../operator/controller/reconciler.ts';
import { renderChildren, validate } from '../../operator/render/index.ts';
import { PORTS_ANNOTATION } from '../../operator/render/labels.ts';
import { SupervisorServer } from '../../operator/supervisor/server.ts';
import { FakeEvents, FakeWriter, fakeCaches, storedServer } from './fakeCaches.ts';
import { odinServer } from './helpers.ts';
import { gridPod } from './podFixtures.ts';
import { noPods } from './podTokens.ts';

const portRange = (extra: Record<string, unknown> = {}, range = { min: 7000, max: 7999 }) => ({
  networking: { mode: 'PortRange', portRange: range },
  ...extra,
});
const input = (spec: Record<string, unknown>) => ({
  server: odinServer(spec),
  accessKeys: { accessKey: generateAccessKey() },
  supervisorSecret: { masterKey: Buffer.alloc(32, 1).toString('base64') },
  deploymentReplicas: 2,
  supervisorUrl: 'http://odin-operator.odin-system:7000',
  pods: ['voice-a'],
});

test('PortRange: node network, no declared ports, the ports file from the annotation, exec probes', () => {
  const rendered = renderChildren(input(portRange()));
  const deployment = rendered.objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const pod = deployment.spec!.template.spec!;
  const grid = pod.containers[0]!;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  assert.equal(grid.ports, undefined, 'a declared port would be a host port to the scheduler');
  assert.deepEqual(
    grid.env?.find((e) => e.name === 'GRID_PORTS_FILE'),
    { name: 'GRID_PORTS_FILE', value: '/etc/odin/ports/ports' },
  );
  const volume = pod.volumes!.find((v) => v.name === 'ports');
  assert.deepEqual(volume?.downwardAPI?.items, [
    { path: 'ports', fieldRef: { fieldPath: `metadata.annotations['${PORTS_ANNOTATION}']` } },
  ]);
  assert.ok(grid.volumeMounts!.some((m) => m.name === 'ports' && m.mountPath === '/etc/odin/ports'));
  assert.deepEqual(grid.readinessProbe?.exec?.command, ['grid-probe', '/readyz']);
  assert.deepEqual(grid.livenessProbe?.exec?.command, ['grid-probe', '/healthz']);
  const headless = rendered.objects.find((o) => o.kind === 'Service') as V1Service;
  assert.equal(headless.spec!.ports, undefined, 'every pod has its own metrics port');
  // Other modes are rendered as before.
  const hostPort = renderChildren(input({})).objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  assert.equal(hostPort.spec!.template.spec!.hostNetwork, undefined);
  assert.ok(hostPort.spec!.template.spec!.containers[0]!.ports!.some((p) => p.hostPort === 4433));
});

test('portRange is validated: bounds and room for one server', () => {
  const paths = (range: { min: number; max: number }) =>
    validate(odinServer(portRange({}, range))).map((e) => `${e.path}: ${e.message}`);
  assert.deepEqual(paths({ min: 7000, max: 7002 }), []);
  assert.deepEqual(paths({ min: 7000, max: 7001 }), [
    'spec.networking.portRange: 7000-7001 holds 2 port(s); one server needs up to 3',
  ]);
  assert.deepEqual(paths({ min: 80, max: 7000 }), ['spec.networking.portRange.min: must be 1024..65535']);
  assert.deepEqual(paths({ min: 9000, max: 8000 }), [
    'spec.networking.portRange: 9000-8000 holds 0 port(s); one server needs up to 3',
  ]);
});

test("the supervisor's endpoint of a pod is its host address with its own assigned ports", () => {
  const server = odinServer(portRange());
  const rendered = renderChildren(input(portRange()));
  const caches = fakeCaches();
  const pod = (name: string, uid: string, ports?: string): V1Pod => {
    const p = gridPod(name, {
      uid,
      hostIP: '10.0.0.5',
      ...(ports ? { annotations: { [PORTS_ANNOTATION]: ports } } : {}),
    });
    p.spec!.nodeName = 'node-1';
    return p;
  };
  caches.pods.put(
    pod('voice-a', 'ua', 'GRID_HTTP_PORT=7003\nGRID_HTTP_WEBRTC_PORT=7004\nGRID_METRICS_PORT=7005\n'),
  );
  caches.pods.put(pod('voice-b', 'ub'));
  const { members } = fleetCredentials(server, rendered, caches);
  assert.deepEqual(members!.get('voice-a'), { uid: 'ua', address: '10.0.0.5', endpoint: '10.0.0.5:7003' });
  assert.deepEqual(members!.get('voice-b'), { uid: 'ub' }, 'no ports yet: no endpoint yet');
});

function setup() {
  const caches = fakeCaches();
  const writer = new FakeWriter(caches);
  const events = new FakeEvents();
  const reconciler = new Reconciler({
    caches,
    writer,
    events,
    fleets: new SupervisorServer({ pods: noPods, isLeader: () => true }),
    metrics: new OperatorMetrics(),
    supervisorUrl: 'http://odin-operator.odin-system:7000',
    now: () => Date.parse('2026-01-01T00:00:00Z'),
  });
  return { caches, writer, events, reconciler };
}

const scheduled = (name: string, server: string, node: string, createdAt: string): V1Pod => {
  const p = gridPod(name, { server, uid: `uid-${name}`, createdAt, hostIP: '10.0.0.5' });
  p.spec!.nodeName = node;
  return p;
};

test('reconcile: pods of two OdinServers on one node get distinct ports; a full range is a condition and an Event, then clears', async () => {
  const { caches, writer, events, reconciler } = setup();
  const range = { min: 7000, max: 7008 }; // room for three 3-port servers
  caches.servers.put(storedServer(portRange({ replicas: 2 }, range), 'voice'));
  caches.servers.put({
    ...storedServer(portRange({ replicas: 2 }, range), 'chat'),
    metadata: { name: 'chat', namespace: 'games', uid: 'uid-2', generation: 1 },
  });
  caches.pods.put(scheduled('voice-a', 'voice', 'node-1', '2026-01-01T00:00:01Z'));
  caches.pods.put(scheduled('voice-b', 'voice', 'node-1', '2026-01-01T00:00:02Z'));
  caches.pods.put(scheduled('chat-a', 'chat', 'node-1', '2026-01-01T00:00:03Z'));
  caches.pods.put(scheduled('chat-b', 'chat', 'node-1', '2026-01-01T00:00:04Z'));
  await reconciler.reconcile('games', 'voice');
  const result = await reconciler.reconcile('games', 'chat');
  const ports = (name: string) => caches.pods.get(name, 'games')?.metadata?.annotations?.[PORTS_ANNOTATION];
  assert.equal(ports('voice-a'), 'GRID_HTTP_PORT=7000\nGRID_HTTP_WEBRTC_PORT=7001\nGRID_METRICS_PORT=7002\n');
  assert.equal(ports('voice-b'), 'GRID_HTTP_PORT=7003\nGRID_HTTP_WEBRTC_PORT=7004\nGRID_METRICS_PORT=7005\n');
  assert.equal(ports('chat-a'), 'GRID_HTTP_PORT=7006\nGRID_HTTP_WEBRTC_PORT=7007\nGRID_METRICS_PORT=7008\n');
  assert.equal(ports('chat-b'), undefined, 'the range is used up on node-1');
  const condition = caches.servers
    .get('chat', 'games')
    ?.status?.conditions?.find((c) => c.type === 'PortsAssigned');
  assert.equal(condition?.status, 'False');
  assert.equal(condition?.reason, 'PortRangeExhausted');
  assert.match(
    condition!.message,
    /node node-1: 1 pod\(s\) \(chat-b\) wait for 3 ports each, but portRange 7000-7008 \(9 ports\) has 0 free there \(9 in use\)/,
  );
  const degraded = caches.servers
    .get('chat', 'games')
    ?.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.ok(
    events.events.some(
      (e) => e.type === 'Warning' && e.reason === 'PortRangeExhausted' && /7000-7008/.test(e.message),
    ),
  );
  assert.ok(
    result.requeueAfterMs !== undefined && result.requeueAfterMs <= 5000,
    'looked at again while a pod waits',
  );
  // voice-b goes: its ports are chat-b's.
  caches.pods.delete('voice-b', 'games');
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'chat');
  assert.equal(ports('chat-b'), 'GRID_HTTP_PORT=7003\nGRID_HTTP_WEBRTC_PORT=7004\nGRID_METRICS_PORT=7005\n');
  const after = caches.servers
    .get('chat', 'games')
    ?.status?.conditions?.find((c) => c.type === 'PortsAssigned');
  assert.equal(after?.status, 'True');
  assert.ok(events.events.some((e) => e.type === 'Normal' && e.reason === 'Assigned'));
  // Nothing changes: nothing is written.
  await reconciler.reconcile('games', 'chat');
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'chat');
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(
    writer.writes.filter((w) => w.startsWith('PodPatch')),
    [],
  );
});

test('a pod deleted before its ports are written is skipped; other API errors fail the reconcile', async () => {
  const { caches, writer, reconciler } = setup();
  caches.servers.put(storedServer(portRange({ replicas: 1 })));
  caches.pods.put(scheduled('voice-a', 'voice', 'node-1', '2026-01-01T00:00:01Z'));
  writer.fail = Object.assign(new Error('pods "voice-a" not found'), { code: 404 });
  await reconciler.reconcile('games', 'voice');
  assert.ok(writer.writes.includes('Deployment/voice'), 'the reconcile went on');
  caches.pods.put(scheduled('voice-b', 'voice', 'node-1', '2026-01-01T00:00:02Z'));
  writer.fail = Object.assign(new Error('etcd timeout'), { code: 500 });
  await assert.rejects(reconciler.reconcile('games', 'voice'), /etcd timeout/);
});
