// Proves the e2e control plane (e2e/cluster/) is a real one: a CRD with a structural schema
// and status/scale subresources, server-side apply through the status subresource, a
// Deployment whose pods are scheduled on kwok nodes and reach Running, garbage collection
// of owned objects, and helm against the cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
  type V1Deployment,
  VersionApi,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { type Cluster, startCluster, waitUntil } from './cluster/index.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const pinnedVersion = /^KUBERNETES_VERSION=(.+)$/m.exec(
  readFileSync(join(import.meta.dirname, 'cluster', 'versions.env'), 'utf8'),
)?.[1];

const GROUP = 'e2e.odin-grid.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'gadgets';
const MANAGER = 'odin-e2e';

interface Gadget extends KubernetesObject {
  spec?: { replicas?: number; message?: string };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    selector?: string;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

describe('e2e cluster: real kube-apiserver, controller manager, scheduler, kwok nodes', () => {
  let cluster: Cluster;
  let ns: string;
  let objects: KubernetesObjectApi;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;

  // The timeout covers a cold build of the binaries (cached afterwards): ~16 min on 2 cores.
  before(
    async () => {
      cluster = await startCluster({ nodes: 2 });
      const kc = cluster.kubeConfig;
      objects = KubernetesObjectApi.makeApiClient(kc);
      core = kc.makeApiClient(CoreV1Api);
      apps = kc.makeApiClient(AppsV1Api);
      custom = kc.makeApiClient(CustomObjectsApi);
      ns = await cluster.newNamespace('smoke');
    },
    { timeout: 60 * 60_000 },
  );

  after(async () => {
    await cluster?.stop();
  });

  test('the API server is the pinned release; kubectl and the nodes see it', async () => {
    const version = await cluster.kubeConfig.makeApiClient(VersionApi).getCode();
    assert.equal(version.gitVersion, pinnedVersion);
    const { stdout } = await cluster.kubectl(['get', 'nodes', '-o', 'name']);
    assert.deepEqual(stdout.trim().split('\n').sort(), cluster.nodes.map((n) => `node/${n}`).sort());
  });

  test('a CRD with structural schema, status and scale subresources; SSA through /status', async () => {
    const crd = parse(readFileSync(join(fixtures, 'gadget-crd.yaml'), 'utf8')) as V1CustomResourceDefinition;
    await objects.patch(crd, undefined, undefined, MANAGER, true, PatchStrategy.ServerSideApply);
    const ext = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await waitUntil('CRD Established', async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });

    const gadget: Gadget = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Gadget',
      metadata: { name: 'g1', namespace: ns },
      spec: { replicas: 2, message: 'hi' },
    };
    // Discovery of a new CRD can lag its Established condition by a moment.
    const created = await waitUntil('server-side apply of a Gadget', () =>
      objects.patch(gadget, undefined, undefined, MANAGER, true, PatchStrategy.ServerSideApply),
    );
    assert.equal(created.metadata?.generation, 1);

    // The status subresource, with server-side apply (client-node's CustomObjectsApi sends
    // JSON; the Content-Type header makes it an apply patch, and JSON is YAML).
    const statusBody: Gadget = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Gadget',
      metadata: { name: 'g1', namespace: ns },
      status: {
        observedGeneration: 1,
        replicas: 2,
        readyReplicas: 1,
        selector: 'app=g1',
        conditions: [{ type: 'Ready', status: 'False', reason: 'Scaling', message: '1/2 ready' }],
      },
    };
    const patched = (await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name: 'g1',
        body: statusBody,
        fieldManager: `${MANAGER}-status`,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as Gadget;
    assert.equal(patched.status?.readyReplicas, 1);
    assert.equal(patched.spec?.replicas, 2, 'a status write does not touch spec');
    assert.equal(patched.metadata?.generation, 1, 'a status write does not bump the generation');
    const statusManager = patched.metadata?.managedFields?.find((f) => f.manager === `${MANAGER}-status`);
    assert.equal(statusManager?.operation, 'Apply');
    assert.equal(statusManager?.subresource, 'status');

    // The main resource ignores status: the status subresource is really on.
    const viaMain = await objects.patch(
      { ...gadget, status: { replicas: 99 } } as Gadget,
      undefined,
      undefined,
      MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.equal(viaMain.status?.replicas, 2);

    // The structural schema validates.
    await assert.rejects(
      objects.patch(
        { ...gadget, metadata: { name: 'bad', namespace: ns }, spec: { replicas: 1000 } },
        undefined,
        undefined,
        MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      ),
      (err: unknown) => statusCode(err) === 422,
    );

    // The scale subresource: read it, and scale with kubectl.
    const scale = (await custom.getNamespacedCustomObjectScale({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: 'g1',
    })) as { spec?: { replicas?: number }; status?: { replicas?: number; selector?: string } };
    assert.equal(scale.spec?.replicas, 2);
    assert.equal(scale.status?.replicas, 2);
    assert.equal(scale.status?.selector, 'app=g1');
    await cluster.kubectl(['-n', ns, 'scale', `${PLURAL}.${GROUP}/g1`, '--replicas=5']);
    const scaled = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: 'g1',
    })) as Gadget;
    assert.equal(scaled.spec?.replicas, 5);
    assert.equal(scaled.metadata?.generation, 2);
  });

  test('a Deployment: pods are scheduled on kwok nodes and reach Running', async () => {
    const labels = { app: 'web' };
    const deployment: V1Deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns },
      spec: {
        replicas: 3,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          // kwok runs no containers: the image is never pulled.
          spec: { containers: [{ name: 'web', image: 'registry.invalid/odin/web:0' }] },
        },
      },
    };
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment });
    const pods = await waitUntil(
      '3 Running pods on kwok nodes',
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
        const running = list.items.filter(
          (p) =>
            p.status?.phase === 'Running' &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return running.length === 3 && list.items.length === 3 ? list.items : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\n--- kube-scheduler:\n${cluster.logTail('kube-scheduler', 15)}\n--- kwok:\n${cluster.logTail('kwok', 15)}`,
      );
    });
    for (const p of pods) {
      assert.ok(
        cluster.nodes.includes(p.spec?.nodeName ?? ''),
        `pod ${p.metadata?.name} on ${p.spec?.nodeName}`,
      );
      assert.ok(p.status?.podIP, 'kwok assigns a pod IP');
    }
    await waitUntil('Deployment available', async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      return d.status?.availableReplicas === 3;
    });
  });

  test('the HPA controller scales a custom resource through its scale subresource', async () => {
    const gadget: Gadget = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Gadget',
      metadata: { name: 'g2', namespace: ns },
      spec: { replicas: 1 },
    };
    await objects.patch(gadget, undefined, undefined, MANAGER, true, PatchStrategy.ServerSideApply);
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name: 'g2',
        body: { ...gadget, spec: undefined, status: { replicas: 1, selector: 'app=g2' } },
        fieldManager: `${MANAGER}-status`,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    // No metrics server here: below minReplicas, the controller scales up without metrics.
    await cluster.kubeConfig.makeApiClient(AutoscalingV2Api).createNamespacedHorizontalPodAutoscaler({
      namespace: ns,
      body: {
        metadata: { name: 'g2' },
        spec: {
          scaleTargetRef: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Gadget', name: 'g2' },
          minReplicas: 3,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
            },
          ],
        },
      },
    });
    await waitUntil(
      'the HPA to scale g2 to minReplicas',
      async () => {
        const g = (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: PLURAL,
          name: 'g2',
        })) as Gadget;
        return g.spec?.replicas === 3;
      },
      { timeoutMs: 60_000 },
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\n--- kube-controller-manager:\n${cluster.logTail('kube-controller-manager', 20)}`,
      );
    });
  });

  test('garbage collection: deleting an owner removes its children', async () => {
    // Built-in owners: Deployment -> ReplicaSet -> Pods.
    const rs = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=web' });
    assert.equal(rs.items.length, 1);
    assert.equal(rs.items[0]?.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
    await apps.deleteNamespacedDeployment({ name: 'web', namespace: ns, propagationPolicy: 'Background' });
    await waitUntil(
      'ReplicaSets and Pods of the deleted Deployment gone',
      async () => {
        const [r, p] = await Promise.all([
          apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=web' }),
          core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' }),
        ]);
        return r.items.length === 0 && p.items.length === 0;
      },
      { timeoutMs: 90_000 },
    );

    // A custom resource as the owner, as the operator's OdinServer will be.
    const owner = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: 'g1',
    })) as Gadget;
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'g1-config',
          ownerReferences: [
            {
              apiVersion: `${GROUP}/${VERSION}`,
              kind: 'Gadget',
              name: 'g1',
              uid: owner.metadata!.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        data: { 'config.toml': '' },
      },
    });
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: 'g1',
      propagationPolicy: 'Foreground',
    });
    await waitUntil('the owned ConfigMap and its owner gone', async () => {
      const cm = await core
        .readNamespacedConfigMap({ name: 'g1-config', namespace: ns })
        .catch((err: unknown) => {
          if (statusCode(err) === 404) return null;
          throw err;
        });
      const g = await custom
        .getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: PLURAL,
          name: 'g1',
        })
        .catch((err: unknown) => {
          if (statusCode(err) === 404) return null;
          throw err;
        });
      return cm === null && g === null;
    });
  });

  test('helm template and helm install a trivial chart', async () => {
    const chart = join(fixtures, 'charts', 'hello');
    const { stdout: rendered } = await cluster.helm([
      'template',
      'demo',
      chart,
      '--set',
      'greeting=templated',
    ]);
    const docs = rendered
      .split(/^---$/m)
      .map((d) => parse(d) as KubernetesObject & { data?: Record<string, string> })
      .filter(Boolean);
    assert.equal(docs.length, 1);
    assert.equal(docs[0]?.kind, 'ConfigMap');
    assert.equal(docs[0]?.data?.greeting, 'templated');

    await cluster.helm(['install', 'demo', chart, '--namespace', ns, '--wait', '--timeout', '60s']);
    const cm = await core.readNamespacedConfigMap({ name: 'demo-hello', namespace: ns });
    assert.equal(cm.data?.greeting, 'hello from helm');
    assert.equal(cm.data?.kubeVersion, pinnedVersion, 'helm asked the real API server for its version');
    const { stdout: list } = await cluster.helm(['list', '--namespace', ns, '-o', 'json']);
    const releases = JSON.parse(list) as { name: string; status: string }[];
    assert.deepEqual(
      releases.map((r) => [r.name, r.status]),
      [['demo', 'deployed']],
    );
    await cluster.helm(['uninstall', 'demo', '--namespace', ns, '--wait']);
    await assert.rejects(
      core.readNamespacedConfigMap({ name: 'demo-hello', namespace: ns }),
      (err: unknown) => {
        return statusCode(err) === 404;
      },
    );
  });
});
