import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accessKeyToJwk, generateAccessKey, publicJwk } from '../../common/auth/index.ts';
import { childrenToApply, fleetCredentials, podMarks } from '../../operator/controller/apply.ts';
import { appliedHash, render, withAppliedHash } from '../../operator/controller/desired.ts';
import { observe, serverViews } from '../../operator/controller/observe.ts';
import { autoscale, plan } from '../../operator/controller/plan.ts';
import { renderGridConfig } from '../../operator/render/config.ts';
import { APPLIED_HASH_ANNOTATION, DRAINING_ANNOTATION } from '../../operator/render/labels.ts';
import { fakeCaches, storedServer } from './fakeCaches.ts';
import { gridPod } from './podFixtures.ts';

const secret = (name: string, values: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'games' },
  data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

test('observe: a missing or deleted OdinServer observes nothing', () => {
  const caches = fakeCaches();
  assert.equal(observe(caches, 'games', 'voice'), undefined);
  const s = storedServer();
  s.metadata!.deletionTimestamp = new Date();
  caches.servers.put(s);
  assert.equal(observe(caches, 'games', 'voice'), undefined);
});

test('observe: the fleet is its alive pods, with defaults, secrets and licence read from the caches', () => {
  const caches = fakeCaches();
  caches.servers.put(storedServer({ license: { secretRef: { name: 'lic' } } }));
  caches.secrets.put(secret('voice-access-key', { accessKey: 'AK' }));
  caches.secrets.put(secret('voice-supervisor', { password: 'pw', masterKey: 'mk' }));
  caches.secrets.put(secret('lic', { 'license.toml': 'licence text' }));
  caches.pods.put(gridPod('voice-a'));
  caches.pods.put(gridPod('voice-gone', { terminating: true }));
  caches.pods.put(gridPod('voice-done', { phase: 'Succeeded' }));
  caches.pods.put(gridPod('voice-failed', { phase: 'Failed' }));
  caches.pods.put(gridPod('other-a', { server: 'other' }));
  const o = observe(caches, 'games', 'voice')!;
  assert.deepEqual(
    o.pods.map((p) => p.metadata?.name),
    ['voice-a'],
  );
  assert.equal(o.server.spec.replicas, 1, 'defaults applied');
  assert.deepEqual(o.accessKeys, { accessKey: 'AK' });
  assert.deepEqual(o.supervisorSecret, { password: 'pw', masterKey: 'mk' });
  assert.equal(o.license, 'licence text');
  assert.equal(o.builtIn, true);
});

test('serverViews: a report counts only while the server is not silent', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const report = { load: 0.5, clients: 3, rooms: [{ id: ['ns', 'r'], peers: 2 }] } as never;
  const entry = (at: number) => ({
    pod: 'p',
    endpoint: '1.2.3.4:4433',
    key: {} as never,
    tasks: [],
    report,
    lastReportAt: at,
  });
  const [fresh] = serverViews([gridPod('p')], () => entry(now - 1000), now);
  assert.equal(fresh!.reporting, true);
  assert.deepEqual(fresh!.report, { load: 0.5, clients: 3, rooms: 1, peers: 2 });
  assert.equal(fresh!.address, '1.2.3.4:4433');
  const [silent] = serverViews([gridPod('p')], () => entry(now - 10_000), now);
  assert.equal(silent!.reporting, false);
  assert.equal(silent!.report, undefined);
  assert.equal(silent!.silentForMs, 10_000, 'silent since its last report');
  const [unknown] = serverViews([gridPod('p', { ready: false })], () => undefined, now);
  assert.equal(unknown!.ready, false);
  assert.equal(
    unknown!.silentForMs,
    now - Date.parse('2026-01-01T00:00:00Z'),
    'never reported: since created',
  );
  const [fresh2] = serverViews([gridPod('p')], () => undefined, now, now - 3000);
  assert.equal(fresh2!.silentForMs, 3000, 'not longer than the supervisor has listened');
});

test('autoscale: off keeps spec.replicas; on scales up at once and asks for a resync', () => {
  const caches = fakeCaches();
  caches.servers.put(storedServer({ replicas: 1 }));
  const off = autoscale({ observation: observe(caches, 'games', 'voice')!, views: [], history: [], now: 0 });
  assert.deepEqual(off, { desired: 1 });
  caches.servers.put(
    storedServer({
      replicas: 1,
      autoscaling: { minReplicas: 1, maxReplicas: 5, target: { type: 'Load', loadPercent: 50 } },
    }),
  );
  const views = [
    {
      name: 'p',
      ready: true,
      createdAt: 0,
      draining: false,
      markedRemovable: false,
      reporting: true,
      report: { load: 0.9, peers: 1, rooms: 1, clients: 1 },
    },
  ];
  const on = autoscale({ observation: observe(caches, 'games', 'voice')!, views, history: [], now: 0 });
  assert.equal(on.desired, 2);
  assert.equal(on.scaleTo, 2);
  assert.equal(on.recommendation, 2);
  assert.ok(on.history && on.history.length > 0);
});

test('plan: an excess pod drains before the Deployment shrinks', () => {
  const caches = fakeCaches();
  caches.servers.put(storedServer({ replicas: 1 }));
  caches.deployments.put({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'voice', namespace: 'games' },
    spec: { replicas: 2, selector: {}, template: {} },
  });
  const views = [
    {
      name: 'a',
      ready: true,
      createdAt: 0,
      draining: false,
      markedRemovable: false,
      reporting: true,
      report: { load: 0.2, peers: 2, rooms: 1, clients: 2 },
    },
    {
      name: 'b',
      ready: true,
      createdAt: 0,
      draining: false,
      markedRemovable: false,
      reporting: true,
      report: { load: 0.1, peers: 1, rooms: 1, clients: 1 },
    },
  ];
  const p = plan({ observation: observe(caches, 'games', 'voice')!, views, desired: 1 });
  assert.deepEqual(p, { draining: ['b'], removable: [], deploymentReplicas: 2 });
});

test('render: every child carries the hash of its desired form; a spec change changes it', () => {
  const caches = fakeCaches();
  caches.servers.put(storedServer({ replicas: 1 }));
  caches.secrets.put(secret('voice-access-key', { accessKey: generateAccessKey() }));
  caches.secrets.put(
    secret('voice-supervisor', { password: 'pw', masterKey: Buffer.alloc(32).toString('base64') }),
  );
  const once = () =>
    render({
      observation: observe(caches, 'games', 'voice')!,
      views: [],
      plan: { draining: [], removable: [], deploymentReplicas: 1 },
      keys: {},
      supervisorUrl: 'http://op:7000',
    });
  const a = once();
  assert.deepEqual(a.errors, []);
  for (const o of a.objects)
    assert.match(o.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] ?? '', /^[0-9a-f]{16}$/);
  assert.deepEqual(once().objects, a.objects, 'deterministic');
  caches.servers.put(storedServer({ replicas: 1, config: { limit: { max_peers: 9 } } }));
  const b = once();
  const hashOf = (r: typeof a, kind: string) =>
    r.objects.find((o) => o.kind === kind)?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
  assert.notEqual(hashOf(b, 'ConfigMap'), hashOf(a, 'ConfigMap'));
  assert.equal(hashOf(b, 'PodDisruptionBudget'), hashOf(a, 'PodDisruptionBudget'));
});

test('apply: children not cached, with another applied hash, or edited by hand are sent', () => {
  const caches = fakeCaches();
  const configMap = (a: string) =>
    withAppliedHash({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'voice-config', namespace: 'games' },
      data: { a },
    } as never);
  const cm = configMap('1');
  const why = () => childrenToApply([cm], caches).map((w) => [w.why, w.field]);
  assert.deepEqual(why(), [['new', undefined]]);
  // As listed: no apiVersion/kind, server-set metadata, another manager's label.
  const stored = structuredClone(cm) as {
    metadata: Record<string, unknown>;
    apiVersion?: string;
    kind?: string;
  };
  delete stored.apiVersion;
  delete stored.kind;
  stored.metadata.resourceVersion = '7';
  stored.metadata.labels = { team: 'voice' };
  caches.configMaps.put(stored as never);
  assert.deepEqual(why(), [], 'same hash and fields: skipped');
  assert.deepEqual(
    childrenToApply([configMap('2')], caches).map((w) => w.why),
    ['changed'],
  );
  caches.configMaps.put({ ...stored, data: { a: 'edited' } } as never);
  assert.deepEqual(why(), [['drift', 'data.a']], 'a hand edit keeps our hash but not our data');
  assert.equal(
    appliedHash({ kind: 'X', metadata: { name: 'a' } }),
    appliedHash({ metadata: { name: 'a' }, kind: 'X' }),
    'key order does not matter',
  );
});

test('apply: pod marks only for pods whose marks differ, with Draining/Drained events', () => {
  const caches = fakeCaches();
  caches.servers.put(storedServer());
  const server = observe(caches, 'games', 'voice')!.server;
  const pods = [gridPod('a'), gridPod('b', { annotations: { [DRAINING_ANNOTATION]: 'true' } }), gridPod('c')];
  const marks = podMarks(server, pods, { draining: ['b', 'c'], removable: ['b'], deploymentReplicas: 2 });
  assert.deepEqual(
    marks.map((m) => [m.patch.metadata?.name, m.events.map((e) => e.reason)]),
    [
      ['b', ['Drained']],
      ['c', ['Draining']],
    ],
  );
  assert.deepEqual(
    podMarks(server, [gridPod('a')], { draining: [], removable: [], deploymentReplicas: 1 }),
    [],
  );
});

test('apply: the fleet gets the master key, the served access keys and its members (uid, address and endpoint from the objects)', () => {
  const caches = fakeCaches();
  caches.servers.put(storedServer({ networking: { mode: 'LoadBalancer' } }));
  caches.services.put({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'voice-a', namespace: 'games', labels: { 'odin-grid.io/pod': 'voice-a' } },
    status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } },
  });
  caches.pods.put(gridPod('voice-a', { uid: 'uid-a' }));
  // Terminating: still a member (it drains and reports); its ingress is not known: no endpoint.
  caches.pods.put(gridPod('voice-b', { uid: 'uid-b', terminating: true }));
  caches.pods.put(gridPod('voice-c', { uid: 'uid-c', phase: 'Succeeded' }));
  caches.pods.put(gridPod('other-a', { uid: 'uid-o', server: 'other' }));
  const server = observe(caches, 'games', 'voice')!.server;
  const objects = [secret('voice-supervisor', { masterKey: Buffer.alloc(32, 1).toString('base64') })];
  const publicKeys = [publicJwk(accessKeyToJwk(generateAccessKey()))];
  const configToml = renderGridConfig(server, publicKeys).toml;
  const update = fleetCredentials(server, { objects: objects as never, publicKeys, configToml }, caches);
  assert.deepEqual(update.credentials?.masterKey, Buffer.alloc(32, 1));
  assert.deepEqual(update.credentials?.accessKeys, publicKeys);
  assert.deepEqual(
    [...update.members!],
    [
      ['voice-a', { uid: 'uid-a', address: '203.0.113.7', endpoint: '203.0.113.7:4433' }],
      ['voice-b', { uid: 'uid-b' }],
    ],
  );
  assert.equal(
    fleetCredentials(server, { objects: [], publicKeys, configToml }, caches).credentials,
    undefined,
    'no Secret yet: no credentials',
  );
});
