import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OperatorMetrics } from '../../operator/controller/health.ts';
import type { ServerView } from '../../operator/controller/observe.ts';
import { Reconciler } from '../../operator/controller/reconciler.ts';
import { planRollout } from '../../operator/controller/rollout.ts';
import { SupervisorServer } from '../../operator/supervisor/server.ts';
import { FakeEvents, FakeWriter, fakeCaches, storedServer } from './fakeCaches.ts';
import { odinServer } from './helpers.ts';
import { gridPod } from './podFixtures.ts';
import { noPods } from './podTokens.ts';

const now = Date.parse('2026-01-01T01:00:00Z');
const server = odinServer({ image: 'grid:2', rolloutConversationTimeoutSeconds: 600 });
const pod = (name: string, hash: string, extra: { held?: string; image?: string } = {}) => {
  const p = gridPod(name, {
    annotations: {
      'odin-grid.io/config-hash': hash,
      ...(extra.held ? { 'odin-grid.io/held-since': extra.held } : {}),
    },
  });
  p.spec!.containers[0]!.image = extra.image ?? 'grid:2';
  if (!extra.held)
    p.metadata!.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true },
    ];
  return p;
};
const view = (name: string, peers?: number, extra: Partial<ServerView> = {}): ServerView => ({
  name,
  ready: true,
  createdAt: 0,
  draining: false,
  markedRemovable: false,
  reporting: peers !== undefined,
  ...(peers !== undefined ? { report: { load: 0.1, peers, rooms: peers > 0 ? 1 : 0, clients: peers } } : {}),
  ...extra,
});
const planFor = (pods: ReturnType<typeof pod>[], views: ServerView[], s = server) =>
  planRollout({ server: s, pods, views, configHash: 'new', builtIn: true, silentRemovableMs: 300_000, now });

test('old servers with conversations are held; idle and up-to-date ones are left to the Deployment', () => {
  const plan = planFor(
    [
      pod('busy-old', 'old'),
      pod('idle-old', 'old'),
      pod('busy-new', 'new'),
      pod('old-image', 'new', { image: 'grid:1' }),
    ],
    [view('busy-old', 2), view('idle-old', 0), view('busy-new', 3), view('old-image', 1)],
  );
  assert.deepEqual(plan.hold, ['busy-old', 'old-image']);
  assert.deepEqual(plan.held, ['busy-old', 'old-image']);
  assert.deepEqual(plan.outdated, ['idle-old'], 'no new rooms on a server about to be replaced');
  assert.deepEqual(plan.release, []);
});

test('a held server goes when empty, after the limit, or when it stops reporting', () => {
  const recent = new Date(now - 60_000).toISOString();
  const old = new Date(now - 601_000).toISOString();
  const plan = planFor(
    [
      pod('talking', 'old', { held: recent }),
      pod('empty', 'old', { held: recent }),
      pod('too-long', 'old', { held: old }),
      pod('silent', 'old', { held: recent }),
      pod('quiet-briefly', 'old', { held: recent }),
    ],
    [
      view('talking', 2),
      view('empty', 0),
      view('too-long', 2),
      view('silent', undefined, { silentForMs: 300_000 }),
      view('quiet-briefly', undefined, { silentForMs: 10_000 }),
    ],
  );
  assert.deepEqual(plan.held, ['talking', 'quiet-briefly']);
  assert.deepEqual(
    plan.release.map((r) => [r.pod, r.why]),
    [
      ['empty', 'its conversations ended'],
      ['too-long', 'rolloutConversationTimeoutSeconds (600 s) passed'],
      ['silent', 'it stopped reporting'],
    ],
  );
});

test('rolloutConversationTimeoutSeconds 0 or an external supervisor: nothing is held', () => {
  const pods = [pod('busy-old', 'old')];
  const views = [view('busy-old', 2)];
  assert.deepEqual(
    planFor(pods, views, odinServer({ image: 'grid:2', rolloutConversationTimeoutSeconds: 0 })).hold,
    [],
  );
  assert.deepEqual(
    planRollout({ server, pods, views, configHash: 'new', builtIn: false, silentRemovableMs: 1, now }).hold,
    [],
  );
});

test('reconcile: a config change holds the busy old server, draining, and removes it once empty', async () => {
  const caches = fakeCaches();
  const writer = new FakeWriter(caches);
  const events = new FakeEvents();
  const supervisor = new SupervisorServer({ pods: noPods, isLeader: () => true, now: () => now });
  const reconciler = new Reconciler({
    caches,
    writer,
    events,
    fleets: supervisor,
    metrics: new OperatorMetrics(),
    supervisorUrl: 'http://op:7000',
    now: () => now,
  });
  caches.servers.put(storedServer({ image: 'grid:2' }));
  await reconciler.reconcile('games', 'voice');
  const hash = caches.deployments.get('voice', 'games')!.spec!.template.metadata!.annotations![
    'odin-grid.io/config-hash'
  ]!;
  caches.pods.put(pod('voice-old', hash));
  const fleet = supervisor.fleet('games', 'voice');
  const report = (peers: number) =>
    fleet.servers.set('voice-old', {
      pod: 'voice-old',
      endpoint: '10.0.0.1:4433',
      key: {} as never,
      tasks: [],
      lastReportAt: now,
      report: {
        load: 0.1,
        clients: peers,
        rooms: peers > 0 ? [{ id: ['games', 'lobby'], peers }] : [],
      } as never,
    });
  await reconciler.reconcile('games', 'voice');
  report(2);
  caches.servers.put({
    ...storedServer({ image: 'grid:2', config: { limit: { max_peers: 9 } } }),
    status: caches.servers.get('voice', 'games')!.status,
  });
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  // Held before the new template is applied: the Deployment could replace it at once.
  assert.deepEqual(writer.writes.slice(0, 3), [
    'PodPatch/voice-old',
    'ConfigMap/voice-config',
    'Deployment/voice',
  ]);
  const held = caches.pods.get('voice-old', 'games')!;
  assert.equal(held.metadata?.labels?.['pod-template-hash'], undefined);
  assert.equal(held.metadata?.ownerReferences?.[0]?.kind, 'OdinServer');
  assert.equal(held.metadata?.annotations?.['odin-grid.io/draining'], 'true');
  assert.ok(fleet.draining.has('voice-old'), 'no new rooms there');
  assert.ok(events.events.some((e) => e.reason === 'HeldForConversations'));
  const status = caches.servers.get('voice', 'games')!.status!;
  assert.match(
    status.conditions?.find((c) => c.type === 'Progressing')?.message ?? '',
    /1 server\(s\) of the previous config keep their conversations until empty/,
  );
  assert.equal(status.replicas, 0, 'a held server is not one of the Deployment');

  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.ok(!writer.writes.some((w) => w.startsWith('Pod')), 'still talking: kept');
  report(0);
  await reconciler.reconcile('games', 'voice');
  assert.ok(writer.writes.includes('PodDelete/voice-old'));
  assert.ok(events.events.some((e) => e.reason === 'Replaced' && /conversations ended/.test(e.message)));
});
