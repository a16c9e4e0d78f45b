/**
 * The operator owns the fields it applies: hand edits of its children are reverted (they kept
 * the applied-hash annotation, which alone hid them), and a restarted operator still writes
 * nothing. Rapid spec edits settle into one rollout of the last spec. A Ready server that never
 * reports does not block a scale-down (`--silent-server-timeout-seconds`, 10 s here).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from '../cluster/index.ts';
import { type Harness, startHarness } from './harness.ts';

describe('reconcile: drift repair, rapid edits', () => {
  let h: Harness;
  let ns = '';
  before(
    async () => {
      h = await startHarness({ nodes: 5, operatorArgs: ['--silent-server-timeout-seconds', '10'] });
      await h.startOperator();
      ns = await h.cluster.newNamespace('drift');
      await h.apply(h.odin(ns, 'voice', { replicas: 1, image: 'grid:1' }));
      await waitUntil(
        'Ready=True',
        async () => h.condition(await h.read(ns, 'voice'), 'Ready')?.status === 'True',
        { timeoutMs: 90_000 },
      ).catch((e: Error) => {
        throw h.explain(e);
      });
    },
    { timeout: 60 * 60_000 },
  );
  after(async () => {
    await h?.stop();
  });

  const configToml = async () =>
    (await h.core.readNamespacedConfigMap({ name: 'voice-config', namespace: ns })).data?.['config.toml'];
  const deployment = () => h.apps.readNamespacedDeployment({ name: 'voice', namespace: ns });

  test('a hand-edited ConfigMap is restored, with a DriftReverted event', async () => {
    const original = await configToml();
    assert.ok(original?.includes('[http]'));
    await h.cluster.kubectl([
      '-n',
      ns,
      'patch',
      'configmap',
      'voice-config',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { 'config.toml': '# edited by hand\n' } }),
    ]);
    await waitUntil('config.toml restored', async () => (await configToml()) === original, {
      timeoutMs: 60_000,
    });
    const events = await waitUntil('a DriftReverted event', async () => {
      const e = await h.events(ns, 'DriftReverted');
      return e.length > 0 ? e : undefined;
    });
    assert.match(events[0]!.message, /ConfigMap\/voice-config: data\.config\.toml/);
  });

  test('kubectl set image and kubectl scale on the Deployment are reverted', async () => {
    await h.cluster.kubectl(['-n', ns, 'set', 'image', 'deployment/voice', 'grid=foreign.example/grid:666']);
    await waitUntil(
      'the image restored',
      async () => (await deployment()).spec?.template.spec?.containers[0]?.image === 'grid:1',
      { timeoutMs: 60_000 },
    );
    await h.cluster.kubectl(['-n', ns, 'scale', 'deployment/voice', '--replicas=4']);
    await waitUntil('the replicas restored', async () => (await deployment()).spec?.replicas === 1, {
      timeoutMs: 60_000,
    });
    // `kubectl rollout restart` stamps an annotation the operator does not own: that is no drift.
    await h.cluster.kubectl(['-n', ns, 'rollout', 'restart', 'deployment/voice']);
    const restarted = (await deployment()).spec?.template.metadata?.annotations?.[
      'kubectl.kubernetes.io/restartedAt'
    ];
    assert.ok(restarted);
    await waitUntil(
      'Progressing=False again',
      async () => h.condition(await h.read(ns, 'voice'), 'Progressing')?.status === 'False',
      { timeoutMs: 60_000 },
    );
    assert.equal(
      (await deployment()).spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
      restarted,
    );
  });

  test('ten rapid spec edits roll out once, with the last spec', async () => {
    const rsCount = async () =>
      (await h.apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'odin-grid.io/server=voice' }))
        .items.length;
    const writes = async (kind: string) => {
      const m = new RegExp(`odin_operator_writes_total\\{kind="${kind}"\\} (\\d+)`).exec(
        (await h.operator.get('/metrics')).body,
      );
      return Number(m?.[1] ?? 0);
    };
    await waitUntil(
      'settled',
      async () => h.condition(await h.read(ns, 'voice'), 'Progressing')?.status === 'False',
      { timeoutMs: 60_000 },
    );
    const rsBefore = await rsCount();
    const deploymentWrites = await writes('Deployment');
    const configWrites = await writes('ConfigMap');
    const started = Date.now();
    for (let i = 1; i <= 10; i++)
      await h.patchSpec(ns, 'voice', { config: { limit: { max_peers: 100 + i } } });
    const editsMs = Date.now() - started;
    await waitUntil('the last spec rendered', async () => (await configToml())?.includes('max_peers = 110'), {
      timeoutMs: 60_000,
    });
    await waitUntil(
      'the rollout done',
      async () => {
        const s = await h.read(ns, 'voice');
        return (
          s.status?.observedGeneration === s.metadata?.generation &&
          h.condition(s, 'Progressing')?.status === 'False'
        );
      },
      { timeoutMs: 90_000 },
    );
    // One settle window (2 s) per rollout at most: edits slower than that (a loaded machine)
    // may legitimately roll out more than once.
    const allowed = 1 + Math.floor(editsMs / 2000);
    const rollouts = (await rsCount()) - rsBefore;
    process.stderr.write(
      `[operator e2e] 10 edits in ${editsMs} ms: ${rollouts} new ReplicaSet(s), ` +
        `${(await writes('Deployment')) - deploymentWrites} Deployment and ${(await writes('ConfigMap')) - configWrites} ConfigMap write(s)\n`,
    );
    assert.ok(rollouts >= 1 && rollouts <= allowed, `${rollouts} rollouts for edits over ${editsMs} ms`);
    assert.ok((await writes('Deployment')) - deploymentWrites <= allowed);
  });

  test('a Ready server that never reports is removed by a scale-down after the silence timeout', async () => {
    // No pod runner here: kwok's pods are Ready and no grid ever reports, as with a server that
    // cannot reach the supervisor.
    const quiet = await h.cluster.newNamespace('quiet');
    await h.apply(h.odin(quiet, 'voice', { replicas: 2 }));
    await waitUntil('2 ready', async () => (await h.read(quiet, 'voice')).status?.readyReplicas === 2, {
      timeoutMs: 90_000,
    });
    await h.patchSpec(quiet, 'voice', { replicas: 1 });
    await waitUntil(
      'one pod removed',
      async () => {
        const s = await h.read(quiet, 'voice');
        return (
          (await h.pods(quiet, 'voice')).length === 1 && s.status?.replicas === 1 && s.status.draining === 0
        );
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const drained = await h.events(quiet, 'Drained');
    assert.equal(drained.length, 1);
  });

  test('a restarted operator writes nothing (drift detection included)', async () => {
    await new Promise((r) => setTimeout(r, 3000));
    const versions = async () => {
      const [cms, secrets, deps, svcs, pods] = await Promise.all([
        h.core.listNamespacedConfigMap({ namespace: ns }),
        h.core.listNamespacedSecret({ namespace: ns }),
        h.apps.listNamespacedDeployment({ namespace: ns }),
        h.core.listNamespacedService({ namespace: ns }),
        h.core.listNamespacedPod({ namespace: ns }),
      ]);
      const server = await h.read(ns, 'voice');
      return [...cms.items, ...secrets.items, ...deps.items, ...svcs.items, ...pods.items]
        .map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`)
        .concat(`OdinServer@${server.metadata?.resourceVersion}`)
        .sort();
    };
    const before = await versions();
    assert.equal(await h.operator.stop(), 0);
    await h.startOperator('op-2', h.operator.supervisorPort);
    await new Promise((r) => setTimeout(r, 5000));
    assert.deepEqual(await versions(), before);
    const metrics = await h.operator.get('/metrics');
    assert.match(metrics.body, /odin_operator_reconciles_total\{result="ok"\} [1-9]/);
    assert.doesNotMatch(metrics.body, /odin_operator_writes_total\{/, 'no write of any kind');
  });
});
