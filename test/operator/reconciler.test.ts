import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OperatorMetrics } from '../../operator/controller/health.ts';
import { Reconciler } from '../../operator/controller/reconciler.ts';
import { SupervisorServer } from '../../operator/supervisor/server.ts';
import { FakeEvents, FakeWriter, fakeCaches, storedServer } from './fakeCaches.ts';
import { gridPod } from './podFixtures.ts';
import { noPods } from './podTokens.ts';
import { reconcilerSetup } from './reconcilerSetup.ts';

const setup = () => reconcilerSetup();

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
  assert.ok(fleet?.credentials?.masterKey, 'the supervisor knows the fleet');
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
  caches.servers.put(storedServer({ config: { http: { webrtc_nack_buffer_log2: 99 } } }));
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

test('a deleted generated access-key Secret is not regenerated: the fleet keeps its key and says so', async () => {
  const { caches, writer, events, reconciler, supervisor } = setup();
  caches.servers.put(storedServer());
  await reconciler.reconcile('games', 'voice');
  const key = caches.secrets.get('voice-access-key', 'games')!.data!.accessKey;
  const configToml = caches.configMaps.get('voice-config', 'games')!.data!['config.toml'];
  const served = supervisor.fleets.get('games/voice')!.credentials!.accessKeys;
  caches.secrets.delete('voice-access-key', 'games');
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.ok(!writer.writes.includes('Secret/voice-access-key'), 'no new key');
  assert.equal(caches.secrets.get('voice-access-key', 'games'), undefined);
  assert.equal(
    caches.configMaps.get('voice-config', 'games')!.data!['config.toml'],
    configToml,
    'pods keep their config',
  );
  assert.deepEqual(
    supervisor.fleets.get('games/voice')!.credentials!.accessKeys,
    served,
    'Connect keeps the key',
  );
  const status = caches.servers.get('voice', 'games')!.status!;
  const secrets = status.conditions?.find((c) => c.type === 'SecretsReady');
  assert.equal(secrets?.status, 'False');
  assert.equal(secrets?.reason, 'AccessKeySecretMissing');
  assert.match(secrets?.message ?? '', /voice-access-key .* is gone; the servers keep the key/);
  assert.equal(status.conditions?.find((c) => c.type === 'Degraded')?.reason, 'AccessKeySecretMissing');
  assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'AccessKeySecretMissing'));
  // Restored with the same key: all is well again, nothing rolls.
  caches.secrets.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'voice-access-key', namespace: 'games' },
    data: { accessKey: key! },
  });
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.equal(caches.configMaps.get('voice-config', 'games')!.data!['config.toml'], configToml);
  assert.equal(
    caches.servers.get('voice', 'games')!.status!.conditions?.find((c) => c.type === 'SecretsReady')?.status,
    'True',
  );
});

test('a missing TLS Secret and unschedulable pods are reported with what to do', async () => {
  const { caches, events, reconciler } = setup();
  caches.servers.put(storedServer({ tls: { secretName: 'grid-tls' } }));
  const pod = gridPod('voice-a', { ready: false });
  pod.status!.phase = 'Pending';
  pod.status!.conditions = [
    {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: "0/5 nodes are available: 5 node(s) didn't have free ports for the requested pod ports.",
    },
  ];
  caches.pods.put(pod);
  await reconciler.reconcile('games', 'voice');
  const status = caches.servers.get('voice', 'games')!.status!;
  const c = (type: string) => status.conditions?.find((x) => x.type === type);
  assert.equal(c('SecretsReady')?.reason, 'TLSSecretMissing');
  assert.match(c('SecretsReady')!.message, /games\/grid-tls \(spec\.tls\.secretName\) does not exist/);
  assert.equal(c('Degraded')?.status, 'True');
  assert.equal(c('Progressing')?.status, 'True');
  assert.match(c('Ready')!.message, /cannot be scheduled: voice-a: 0\/5 nodes are available/);
  // The TLS Secret appears: Degraded now names the scheduling problem.
  caches.secrets.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'grid-tls', namespace: 'games' },
  });
  await reconciler.reconcile('games', 'voice');
  const after = caches.servers.get('voice', 'games')!.status!;
  assert.equal(after.conditions?.find((x) => x.type === 'Degraded')?.reason, 'Unschedulable');
  assert.ok(events.events.some((e) => e.reason === 'AllSecretsPresent' && e.type === 'Normal'));
});

test('extra conditions (e.g. a licence check) are written after the built-in ones', async () => {
  const { caches, reconciler } = reconcilerSetup({
    supervisorUrl: 'http://op:7000',
    now: () => 0,
    extraConditions: () => [
      { type: 'LicenseValid', ok: false, reason: 'LicenseExpired', message: 'expired', degrades: true },
    ],
  });
  caches.servers.put(storedServer());
  await reconciler.reconcile('games', 'voice');
  const status = caches.servers.get('voice', 'games')!.status!;
  assert.deepEqual(
    status.conditions?.map((c) => c.type),
    ['ConfigValid', 'Ready', 'Progressing', 'Degraded', 'SecretsReady', 'LicenseValid'],
  );
  assert.equal(status.conditions?.find((c) => c.type === 'Degraded')?.reason, 'LicenseExpired');
});

test('rapid spec edits settle: only the last spec is rendered', async () => {
  const caches = fakeCaches();
  const writer = new FakeWriter(caches);
  let now = 1_000_000;
  const reconciler = new Reconciler({
    caches,
    writer,
    events: new FakeEvents(),
    fleets: new SupervisorServer({ pods: noPods, isLeader: () => true }),
    metrics: new OperatorMetrics(),
    supervisorUrl: 'http://op:7000',
    now: () => now,
    settleMs: 2000,
  });
  const edit = (maxPeers: number, generation: number) => {
    const s = storedServer({ config: { limit: { max_peers: maxPeers } } });
    s.metadata!.generation = generation;
    s.status = caches.servers.get('voice', 'games')?.status;
    caches.servers.put(s);
  };
  edit(10, 1);
  assert.deepEqual(await reconciler.reconcile('games', 'voice'), {}, 'a new OdinServer is not delayed');
  assert.ok(writer.writes.includes('ConfigMap/voice-config'));
  writer.writes.length = 0;
  for (let g = 2; g <= 10; g++) {
    now += 300;
    edit(10 + g, g);
    const result = await reconciler.reconcile('games', 'voice');
    assert.ok((result.requeueAfterMs ?? 0) > 0, `edit ${g} waits`);
  }
  assert.deepEqual(writer.writes, [], 'nothing rolled out while edits keep coming');
  now += 1000;
  assert.equal((await reconciler.reconcile('games', 'voice')).requeueAfterMs, 1000);
  now += 1000;
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(
    (writer.writes as string[]).filter((w) => w.startsWith('ConfigMap') || w.startsWith('Deployment')),
    ['ConfigMap/voice-config', 'Deployment/voice'],
  );
  assert.match(caches.configMaps.get('voice-config', 'games')!.data!['config.toml']!, /max_peers = 20/);
});

test('a deleted supervisor Secret is written back with the master key the running servers use', async () => {
  const { caches, writer, events, reconciler, supervisor } = setup();
  caches.servers.put(storedServer({ replicas: 1 }));
  await reconciler.reconcile('games', 'voice');
  const masterKey = () => caches.secrets.get('voice-supervisor', 'games')?.data?.masterKey;
  const before = masterKey();
  assert.ok(before, 'a master key was generated for the new OdinServer');
  caches.secrets.delete('voice-supervisor', 'games');
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.ok(writer.writes.includes('Secret/voice-supervisor'), writer.writes.join(', '));
  assert.equal(masterKey(), before, 'the same key: the servers keep accepting what Connect signs');
  assert.deepEqual(
    Buffer.from(supervisor.fleets.get('games/voice')!.credentials!.masterKey).toString('base64'),
    Buffer.from(before, 'base64').toString('utf8'),
    'the key the fleet holds',
  );
  assert.ok(events.events.some((e) => e.reason === 'SupervisorSecretRestored'));
});
