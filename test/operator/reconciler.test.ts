import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OperatorMetrics } from '../../operator/controller/health.ts';
import { Reconciler } from '../../operator/controller/reconciler.ts';
import { SupervisorServer } from '../../operator/supervisor/server.ts';
import { FakeEvents, FakeWriter, fakeCaches, storedServer } from './fakeCaches.ts';
import { gridPod } from './podFixtures.ts';

function setup() {
  const caches = fakeCaches();
  const writer = new FakeWriter(caches);
  const events = new FakeEvents();
  const supervisor = new SupervisorServer({ isLeader: () => true });
  const reconciler = new Reconciler({
    caches,
    writer,
    events,
    fleets: supervisor,
    metrics: new OperatorMetrics(),
    supervisorUrl: 'http://odin-operator.odin-system:7000',
    now: () => Date.parse('2026-01-01T00:00:00Z'),
  });
  return { caches, writer, events, supervisor, reconciler };
}

test('a new OdinServer: every child applied, then status; the next reconcile writes nothing', async () => {
  const { caches, writer, reconciler, supervisor } = setup();
  caches.servers.put(storedServer({ replicas: 2 }));
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, [
    'Secret/voice-access-key',
    'Secret/voice-supervisor',
    'ConfigMap/voice-config',
    'Deployment/voice',
    'Service/voice',
    'PodDisruptionBudget/voice',
    'OdinServerStatus/voice',
  ]);
  const fleet = supervisor.fleets.get('games/voice');
  assert.ok(fleet?.credentials?.password, 'the supervisor knows the fleet');
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  // The Deployment is now in the cache, not yet rolled out: that is news for status only.
  assert.deepEqual(writer.writes, ['OdinServerStatus/voice']);
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, [], 'no change, no write');
});

test('pods that appear change status only', async () => {
  const { caches, writer, reconciler } = setup();
  caches.servers.put(storedServer({ replicas: 1 }));
  await reconciler.reconcile('games', 'voice');
  await reconciler.reconcile('games', 'voice');
  writer.writes.length = 0;
  caches.pods.put(gridPod('voice-a'));
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, ['OdinServerStatus/voice']);
  assert.equal(caches.servers.get('voice', 'games')?.status?.readyReplicas, 1);
});

test('an invalid spec renders nothing, reports ConfigValid=False and one InvalidConfig event', async () => {
  const { caches, writer, events, reconciler } = setup();
  caches.servers.put(storedServer({ config: { http: { webrtc_enforce_tcp: true } } }));
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, ['OdinServerStatus/voice']);
  const status = caches.servers.get('voice', 'games')?.status;
  assert.equal(status?.conditions?.find((c) => c.type === 'ConfigValid')?.status, 'False');
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(
    events.events.map((e) => e.reason),
    ['InvalidConfig'],
    'the event is for the transition, not every reconcile',
  );
});

test('an API failure during apply still writes status (Degraded) and fails the reconcile', async () => {
  const { caches, writer, reconciler } = setup();
  caches.servers.put(storedServer());
  writer.fail = Object.assign(new Error('conflict'), { code: 409 });
  await assert.rejects(reconciler.reconcile('games', 'voice'), /conflict/);
  const degraded = caches.servers
    .get('voice', 'games')
    ?.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.equal(degraded?.reason, 'ReconcileError');
  assert.match(degraded?.message ?? '', /HTTP 409: conflict/);
});

test('a deleted OdinServer: the supervisor forgets its fleet, nothing is written', async () => {
  const { caches, writer, reconciler, supervisor } = setup();
  caches.servers.put(storedServer());
  await reconciler.reconcile('games', 'voice');
  writer.writes.length = 0;
  caches.servers.delete('voice', 'games');
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, []);
  assert.equal(supervisor.fleets.has('games/voice'), false);
});

test('a hand-edited child is re-applied with a DriftReverted event', async () => {
  const { caches, writer, events, reconciler } = setup();
  caches.servers.put(storedServer({ image: 'grid:1' }));
  await reconciler.reconcile('games', 'voice');
  await reconciler.reconcile('games', 'voice');
  const deployment = caches.deployments.get('voice', 'games')!;
  const edited = structuredClone(deployment);
  edited.spec!.template.spec!.containers[0]!.image = 'foreign:1';
  caches.deployments.put(edited);
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, ['Deployment/voice']);
  assert.equal(caches.deployments.get('voice', 'games')?.spec?.template.spec?.containers[0]?.image, 'grid:1');
  const drift = events.events.filter((e) => e.reason === 'DriftReverted');
  assert.equal(drift.length, 1);
  assert.match(drift[0]!.message, /Deployment\/voice: spec\.template\.spec\.containers\[grid\]\.image/);
});
