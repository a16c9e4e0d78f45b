/**
 * The operator on the real control plane (docs/e2e.md): kube-apiserver v1.37 with the
 * OdinServer CRD, the controller manager (Deployments, garbage collection), kwok nodes; real
 * `grid` processes started by the pod runner (gridRunner.ts) for the reporting tests.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { OdinClient } from '../../client/odinClient.ts';
import { generateAccessKey, signToken } from '../../common/auth/index.ts';
import { GROUP, type OdinServer, PLURAL, VERSION } from '../../operator/api/types.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { type Cluster, startCluster, waitUntil } from '../cluster/index.ts';
import { GridRunner } from './gridRunner.ts';
import { type OperatorProcess, startOperator } from './operatorProcess.ts';

const crdFile = fileURLToPath(new URL('../../crds/odinservers.odin-grid.io.yaml', import.meta.url));
const chartDir = fileURLToPath(new URL('../../charts/odin-operator', import.meta.url));

const statusCode = (err: unknown) => (err as { code?: number }).code;

describe('odin-operator on a real control plane', () => {
  let cluster: Cluster;
  let operator: OperatorProcess;
  let objects: KubernetesObjectApi;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let leaseNs: string;
  const runners: GridRunner[] = [];
  const clients: OdinClient[] = [];
  const started = Date.now();

  before(
    async () => {
      cluster = await startCluster({ nodes: 5 });
      const kc = cluster.kubeConfig;
      objects = KubernetesObjectApi.makeApiClient(kc);
      custom = kc.makeApiClient(CustomObjectsApi);
      core = kc.makeApiClient(CoreV1Api);
      apps = kc.makeApiClient(AppsV1Api);
      // The way users install it (kubectl apply -f crds/), from the committed file: a server-side
      // apply of the object from code once accepted a CRD that kubectl create refused.
      await cluster.kubectl(['apply', '-f', crdFile]);
      await cluster.kubectl([
        'wait',
        '--for=condition=Established',
        'crd/odinservers.odin-grid.io',
        '--timeout=60s',
      ]);
      leaseNs = await cluster.newNamespace('odin-system');
      operator = await startOperator({
        kubeconfigPath: cluster.kubeconfigPath,
        identity: 'op-1',
        leaseNamespace: leaseNs,
      });
      await waitUntil('op-1 leads', () => operator.isLeader(), { timeoutMs: 30_000 });
    },
    { timeout: 60 * 60_000 },
  );

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const r of runners) await r.stop();
    await operator?.stop();
    await cluster?.stop();
    process.stderr.write(`[operator e2e] ${Math.round((Date.now() - started) / 1000)} s\n`);
  });

  const apply = (server: OdinServer) =>
    waitUntil('OdinServer applied', () =>
      objects.patch(server, undefined, undefined, 'odin-e2e', true, PatchStrategy.ServerSideApply),
    );
  const read = (ns: string, name: string) =>
    custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name,
    }) as Promise<OdinServer>;
  const condition = (s: OdinServer, type: string) => s.status?.conditions?.find((c) => c.type === type);
  const odin = (ns: string, name: string, spec: Record<string, unknown>): OdinServer => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'OdinServer',
    metadata: { name, namespace: ns },
    spec,
  });
  const childrenOf = async (ns: string) => {
    const [cms, secrets, deps, svcs] = await Promise.all([
      core.listNamespacedConfigMap({
        namespace: ns,
        labelSelector: 'app.kubernetes.io/managed-by=odin-operator',
      }),
      core.listNamespacedSecret({
        namespace: ns,
        labelSelector: 'app.kubernetes.io/managed-by=odin-operator',
      }),
      apps.listNamespacedDeployment({ namespace: ns }),
      core.listNamespacedService({ namespace: ns }),
    ]);
    const pdbs = await cluster.kubectl(['-n', ns, 'get', 'pdb', '-o', 'json']);
    return {
      items: [
        ...cms.items.map((o) => ({ ...o, kind: 'ConfigMap' })),
        ...secrets.items.map((o) => ({ ...o, kind: 'Secret' })),
        ...deps.items.map((o) => ({ ...o, kind: 'Deployment' })),
        ...svcs.items.map((o) => ({ ...o, kind: 'Service' })),
        ...(JSON.parse(pdbs.stdout).items as V1Deployment[]).map((o) => ({
          ...o,
          kind: 'PodDisruptionBudget',
        })),
      ],
    };
  };

  let ns1 = '';
  test('an OdinServer gets every child, each with an owner reference, and a Ready status', async () => {
    ns1 = await cluster.newNamespace('basic');
    await apply(odin(ns1, 'voice', { replicas: 2 }));
    const ready = await waitUntil(
      'Ready=True',
      async () => {
        const s = await read(ns1, 'voice');
        return condition(s, 'Ready')?.status === 'True' ? s : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${operator.log.slice(-15).join('\n')}`);
    });
    assert.equal(ready.status?.readyReplicas, 2);
    assert.equal(ready.status?.selector, 'odin-grid.io/server=voice');
    assert.equal(ready.status?.observedGeneration, ready.metadata?.generation);
    assert.equal(condition(ready, 'ConfigValid')?.status, 'True');
    const { items } = await childrenOf(ns1);
    const kinds = items.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
    assert.deepEqual(kinds, [
      'ConfigMap/voice-config',
      'Deployment/voice',
      'PodDisruptionBudget/voice',
      'Secret/voice-access-key',
      'Secret/voice-supervisor',
      'Service/voice',
    ]);
    for (const o of items) {
      const owner = o.metadata?.ownerReferences?.[0];
      assert.equal(owner?.kind, 'OdinServer', `${o.kind}/${o.metadata?.name}`);
      assert.equal(owner?.uid, ready.metadata?.uid);
    }
    const { stdout } = await cluster.kubectl(['-n', ns1, 'get', 'odin']);
    assert.match(stdout, /NAME\s+DESIRED\s+READY\s+PEERS\s+LOAD\s+AGE/);
  });

  test('kubectl scale goes through the scale subresource', async () => {
    await cluster.kubectl(['-n', ns1, 'scale', 'odin/voice', '--replicas=3']);
    await waitUntil(
      '3 ready servers',
      async () => {
        const s = await read(ns1, 'voice');
        return s.status?.readyReplicas === 3 && condition(s, 'Ready')?.status === 'True';
      },
      { timeoutMs: 90_000 },
    );
    const d = await apps.readNamespacedDeployment({ name: 'voice', namespace: ns1 });
    assert.equal(d.spec?.replicas, 3);
  });

  test('an invalid config sets ConfigValid=False with the key path and changes nothing', async () => {
    const before = await childrenOf(ns1);
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns1,
        plural: PLURAL,
        name: 'voice',
        body: { spec: { config: { log: { terminal: { filters: ['nonsense=loud'] } } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const s = await waitUntil('ConfigValid=False', async () => {
      const s = await read(ns1, 'voice');
      return condition(s, 'ConfigValid')?.status === 'False' ? s : undefined;
    });
    assert.match(condition(s, 'ConfigValid')!.message, /spec\.config\.log\.terminal\.filters/);
    assert.equal(condition(s, 'Degraded')?.status, 'True');
    const after = await childrenOf(ns1);
    assert.deepEqual(
      after.items.map((o) => [o.metadata?.name, o.metadata?.resourceVersion]),
      before.items.map((o) => [o.metadata?.name, o.metadata?.resourceVersion]),
    );
    const { stdout } = await cluster.kubectl([
      '-n',
      ns1,
      'get',
      'events',
      '--field-selector',
      'reason=InvalidConfig',
      '-o',
      'name',
    ]);
    assert.ok(stdout.trim().length > 0, 'an InvalidConfig event');
  });

  test('a config change rolls the pods (config hash on the pod template)', async () => {
    const oldPods = (
      await core.listNamespacedPod({ namespace: ns1, labelSelector: 'odin-grid.io/server=voice' })
    ).items.map((p) => p.metadata?.name);
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns1,
        plural: PLURAL,
        name: 'voice',
        body: { spec: { config: { log: null, limit: { max_peers: 40 } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const cm = await waitUntil('the new config.toml', async () => {
      const c = await core.readNamespacedConfigMap({ name: 'voice-config', namespace: ns1 });
      return c.data?.['config.toml']?.includes('max_peers = 40') ? c : undefined;
    });
    assert.ok(cm);
    await waitUntil(
      'all pods replaced and Ready',
      async () => {
        const pods = (
          await core.listNamespacedPod({ namespace: ns1, labelSelector: 'odin-grid.io/server=voice' })
        ).items;
        const s = await read(ns1, 'voice');
        return (
          pods.length === 3 &&
          pods.every((p) => !oldPods.includes(p.metadata?.name)) &&
          condition(s, 'Ready')?.status === 'True' &&
          condition(s, 'ConfigValid')?.status === 'True'
        );
      },
      { timeoutMs: 120_000 },
    );
  });

  test('an operator restart writes nothing', async () => {
    await waitUntil(
      'settled',
      async () => condition(await read(ns1, 'voice'), 'Progressing')?.status === 'False',
      {
        timeoutMs: 60_000,
      },
    );
    await new Promise((r) => setTimeout(r, 3000));
    const versions = async () => {
      const { items } = await childrenOf(ns1);
      const pods = await core.listNamespacedPod({ namespace: ns1 });
      const server = await read(ns1, 'voice');
      return [
        ...items.map((o) => `${o.kind}/${o.metadata?.name}@${o.metadata?.resourceVersion}`),
        ...pods.items.map((p) => `Pod/${p.metadata?.name}@${p.metadata?.resourceVersion}`),
        `OdinServer@${server.metadata?.resourceVersion}`,
      ].sort();
    };
    const beforeRestart = await versions();
    assert.equal(await operator.stop(), 0, 'graceful shutdown exits 0');
    // Same supervisor URL as before (in a cluster: the operator Service), else the pods' env changes.
    operator = await startOperator({
      kubeconfigPath: cluster.kubeconfigPath,
      identity: 'op-2',
      leaseNamespace: leaseNs,
      supervisorPort: operator.supervisorPort,
    });
    await waitUntil('op-2 leads', () => operator.isLeader(), { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 5000));
    assert.deepEqual(await versions(), beforeRestart);
    const metrics = await operator.get('/metrics');
    assert.match(metrics.body, /odin_operator_reconciles_total\{result="ok"\} [1-9]/);
    assert.doesNotMatch(metrics.body, /odin_operator_writes_total\{/, 'no write of any kind');
  });

  test('two operator processes elect one leader; the other takes over when it stops', async () => {
    const second = await startOperator({
      kubeconfigPath: cluster.kubeconfigPath,
      identity: 'op-3',
      leaseNamespace: leaseNs,
    });
    try {
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(await operator.isLeader(), true);
      assert.equal(await second.isLeader(), false);
      const lease = await cluster.kubeConfig
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: 'odin-operator', namespace: leaseNs });
      assert.equal(lease.spec?.holderIdentity, 'op-2');
      // SIGKILL: no release; the follower waits for the lease to expire (4 s here).
      operator.child.kill('SIGKILL');
      await waitUntil('op-3 leads', () => second.isLeader(), { timeoutMs: 30_000 });
      operator = second;
    } catch (error) {
      await second.stop();
      throw error;
    }
  });

  test('real grid servers: Connect places rooms; reports drive status and autoscaling; scale-down waits for the room to empty', async () => {
    const ns = await cluster.newNamespace('fleet');
    const cert = await createDevCertificate([
      'localhost',
      '127.0.0.1',
      ...Object.values(cluster.nodeAddresses),
    ]);
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'grid-tls' },
        type: 'kubernetes.io/tls',
        stringData: { 'tls.crt': cert.certificatePem, 'tls.key': cert.privateKeyPem },
      },
    });
    const runner = new GridRunner({
      kubeConfig: cluster.kubeConfig,
      namespace: ns,
      labelSelector: 'odin-grid.io/server=fleet',
    });
    runners.push(runner);
    runner.start();
    await apply(
      odin(ns, 'fleet', {
        replicas: 1,
        tls: { secretName: 'grid-tls' },
        drainGracePeriodSeconds: 5,
        config: { limit: { max_peers: 4 }, supervisor: { report_interval: 500 } },
        autoscaling: {
          minReplicas: 1,
          maxReplicas: 2,
          target: { type: 'Load', loadPercent: 60 },
          scaleDownDelaySeconds: 3,
        },
      }),
    );
    const servers = async () => (await read(ns, 'fleet')).status?.servers ?? [];
    const first = await waitUntil(
      'the first server reports',
      async () => (await servers()).find((s) => s.reporting && s.address),
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      const logs = [...runner.processes.values()].flatMap((p) => p.log.slice(-10));
      throw new Error(`${e.message}\n${logs.join('\n')}\n${operator.log.slice(-10).join('\n')}`);
    });
    // Identity on the real control plane: the server reports with its own projected token
    // (TokenRequest bound to the pod, checked by a TokenReview), and its address is the one of
    // its Pod object (status.hostIP: each kwok node has its own loopback address).
    const [gridPod] = (
      await core.listNamespacedPod({ namespace: ns, labelSelector: 'odin-grid.io/server=fleet' })
    ).items;
    assert.equal(first.address, `${gridPod!.status!.hostIP}:4433`, 'the endpoint comes from the Pod');
    const podName = gridPod!.metadata!.name!;
    const tokenFor = async (audience: string) =>
      (
        await core.createNamespacedServiceAccountToken({
          name: 'default',
          namespace: ns,
          body: {
            spec: {
              audiences: [audience],
              expirationSeconds: 600,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid: gridPod!.metadata!.uid! },
            },
          },
        })
      ).status!.token!;
    const internal = (pod: string, token: string, params: Record<string, unknown>) =>
      fetch(`http://127.0.0.1:${operator.supervisorPort}/internal/${ns}/fleet/${pod}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sfu.Report', params }),
      }).then((r) => r.status);
    const own = await tokenFor('odin-grid.io/supervisor');
    const claim = { server: 'grid', version: '1', load: 0, clients: 0, rooms: [] };
    assert.equal(await internal(podName, own, claim), 200, 'the pod as itself');
    assert.equal(await internal('fleet-impostor', own, claim), 401, 'not as another pod');
    const apiToken = await tokenFor('https://kubernetes.default.svc.cluster.local');
    assert.equal(await internal(podName, apiToken, claim), 401, 'not with a token for another audience');
    const basic = await fetch(`http://127.0.0.1:${operator.supervisorPort}/internal/${ns}/fleet/${podName}`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('odin:guess').toString('base64')}` },
    });
    assert.equal(basic.status, 401, 'no shared password');
    // A report naming a foreign endpoint moves nothing: the address stays the Pod's.
    assert.equal(await internal(podName, own, { ...claim, public_endpoint: '192.0.2.66:4433' }), 200);
    await new Promise((r) => setTimeout(r, 3000)); // a status refresh (REPORT_RESYNC_MS 2 s)
    assert.equal((await servers()).find((x) => x.pod === podName)?.address, first.address);

    const keySecret = await core.readNamespacedSecret({ name: 'fleet-access-key', namespace: ns });
    const accessKey = Buffer.from(keySecret.data!.accessKey!, 'base64').toString();
    const gateway = `http://127.0.0.1:${operator.connectPort}/${ns}/fleet`;
    const connect = async (room: string, user: string) => {
      const token = await signToken(accessKey, { rid: room, uid: user }, { audience: 'gateway' });
      const res = await fetch(gateway, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Connect', params: {} }),
      });
      const body = (await res.json()) as { result?: { address: string; token: string }; error?: unknown };
      if (!body.result) throw new Error(`Connect: ${JSON.stringify(body)}`);
      return body.result;
    };
    const join = async (address: string, token: string, room: string) => {
      const client = await OdinClient.connect(address, token, { ca: cert.certificatePem, voice: false });
      clients.push(client);
      await client.joinRoom(room);
      return client;
    };

    // Three peers in one room on the one server: load 3/4 > 60 % -> a second server.
    const placed = await connect('r1', 'alice');
    assert.equal(placed.address, first.address);
    const alice = await join(placed.address, placed.token, 'r1');
    const bob = await join(placed.address, (await connect('r1', 'bob')).token, 'r1');
    const carol = await join(placed.address, (await connect('r1', 'carol')).token, 'r1');
    await waitUntil('status counts 3 peers', async () => (await read(ns, 'fleet')).status?.peers === 3);
    const two = await waitUntil(
      'autoscaled to 2 reporting servers',
      async () => {
        const s = await read(ns, 'fleet');
        const reporting = (s.status?.servers ?? []).filter((x) => x.reporting);
        return s.spec?.replicas === 2 && reporting.length === 2 ? reporting : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch(async (e: Error) => {
      // What the operator saw and what the servers said, so a failure explains itself.
      const status = await read(ns, 'fleet').catch(() => undefined);
      const logs = [...runner.processes.values()].flatMap((p) => p.log.slice(-15));
      throw new Error(
        `${e.message}\nspec.replicas=${status?.spec?.replicas} servers=${JSON.stringify(status?.status?.servers)}\n` +
          `${logs.join('\n')}\n${operator.log.slice(-20).join('\n')}`,
      );
    });
    const second = two.find((s) => s.address !== first.address)!;
    // A second room directly on the new server (a token signed with the access key works there too).
    const dave = await join(second.address!, await signToken(accessKey, { rid: 'r2', uid: 'dave' }), 'r2');
    await waitUntil('4 peers over 2 servers', async () => (await read(ns, 'fleet')).status?.peers === 4);

    // Two leave: one peer on each server, load 0.25 + 0.25 < 60 % -> back to 1 after the window.
    await bob.close();
    await carol.close();
    const drainingServer = await waitUntil(
      'one server draining',
      async () => {
        const s = await read(ns, 'fleet');
        return s.spec?.replicas === 1 ? s.status?.servers?.find((x) => x.draining) : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const stays = drainingServer.address === first.address ? dave : alice;
    const goes = drainingServer.address === first.address ? alice : dave;
    const goesRoom = goes === alice ? 'r1' : 'r2';
    // A new room never lands on the draining server.
    for (let i = 0; i < 5; i++)
      assert.notEqual((await connect(`new-${i}`, 'erin')).address, drainingServer.address);
    // The drained server keeps its pod and its conversation while a peer is in it.
    await new Promise((r) => setTimeout(r, 4000));
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'odin-grid.io/server=fleet' });
    assert.equal(
      pods.items.filter((p) => !p.metadata?.deletionTimestamp).length,
      2,
      'not removed while busy',
    );
    assert.ok(goes.main.isOpen, `the draining server's peer is still connected (room ${goesRoom})`);
    // The room empties: the server goes.
    await goes.close();
    await waitUntil(
      'the drained server removed',
      async () => {
        const list = await core.listNamespacedPod({
          namespace: ns,
          labelSelector: 'odin-grid.io/server=fleet',
        });
        const s = await read(ns, 'fleet');
        return list.items.length === 1 && s.status?.replicas === 1 && s.status?.servers?.length === 1;
      },
      { timeoutMs: 60_000 },
    );
    const remaining = (await servers())[0]!;
    assert.notEqual(remaining.address, drainingServer.address);
    assert.equal(remaining.peers, 1, 'the other conversation was not cut');
    await stays.close();
  });

  test('only its own Secrets and the ones a spec names are cached, whatever else the cluster holds', async () => {
    const cached = async () =>
      Number(/^odin_operator_cached_secrets (\d+)$/m.exec((await operator.get('/metrics')).body)?.[1]);
    const ns = await cluster.newNamespace('secrets');
    const before = await cached();
    for (let i = 0; i < 20; i++)
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: `unrelated-${i}` }, stringData: { token: `s3cret-${i}` } },
      });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'my-keys' }, stringData: { key: generateAccessKey() } },
    });
    await apply(
      odin(ns, 'voice', { replicas: 0, authorization: { accessKeysSecretRef: { name: 'my-keys' } } }),
    );
    // Its generated <name>-supervisor Secret and the named my-keys: two more, not 23.
    await waitUntil(
      'the named Secret and the own one are cached',
      async () => (await cached()) === before + 2,
      {
        timeoutMs: 60_000,
      },
    );
    const s = await waitUntil('ConfigValid', async () => {
      const x = await read(ns, 'voice');
      return condition(x, 'ConfigValid')?.status === 'True' ? x : undefined;
    });
    assert.ok(s);
    assert.equal(await cached(), before + 2);
    // The spec stops naming it: its watch goes.
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: 'voice',
    });
    await waitUntil('the named Secret is no longer cached', async () => (await cached()) <= before + 1, {
      timeoutMs: 60_000,
    });
  });

  test("--watch-namespaces: with only the chart's Roles in one namespace it manages that namespace alone", async () => {
    const [mine, other] = [await cluster.newNamespace('mine'), await cluster.newNamespace('other')];
    // The chart's ServiceAccount and RBAC for watchNamespaces=[mine], as `helm install` makes them.
    const { stdout: rbac } = await cluster.helm([
      'template',
      'scoped',
      chartDir,
      '-n',
      leaseNs,
      '--set',
      `watchNamespaces={${mine}}`,
      '--show-only',
      'templates/rbac.yaml',
      '--show-only',
      'templates/serviceaccount.yaml',
    ]);
    const docs = rbac.split(/^---$/m);
    const clusterRole = docs.find((d) => /^kind: ClusterRole$/m.test(d)) ?? '';
    assert.match(clusterRole, /tokenreviews/);
    assert.doesNotMatch(clusterRole, /secrets|odinservers|pods/, 'nothing namespaced cluster-wide');
    assert.ok(docs.some((d) => /^kind: Role$/m.test(d) && d.includes(`namespace: ${mine}`)));
    await cluster.kubectl(['apply', '-f', '-'], { input: rbac });
    const { stdout: token } = await cluster.kubectl([
      '-n',
      leaseNs,
      'create',
      'token',
      'scoped-odin-operator',
    ]);
    const admin = cluster.kubeConfig.getCurrentCluster()!;
    const ca = admin.caData ?? readFileSync(admin.caFile!).toString('base64');
    const kubeconfigPath = join(cluster.dir, 'scoped.kubeconfig');
    writeFileSync(
      kubeconfigPath,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'e2e', cluster: { server: cluster.apiUrl, 'certificate-authority-data': ca } }],
        users: [{ name: 'scoped', user: { token: token.trim() } }],
        contexts: [{ name: 'scoped', context: { cluster: 'e2e', user: 'scoped' } }],
        'current-context': 'scoped',
      }),
      { mode: 0o600 },
    );
    // The cluster-wide operator steps aside; the scoped one runs as that ServiceAccount.
    assert.equal(await operator.stop(), 0);
    const scoped = await startOperator({
      kubeconfigPath,
      identity: 'scoped-1',
      leaseNamespace: leaseNs,
      leaseName: 'scoped-odin-operator',
      extraArgs: ['--watch-namespaces', mine],
    });
    try {
      await waitUntil('the scoped operator leads', () => scoped.isLeader(), { timeoutMs: 30_000 });
      await apply(odin(other, 'voice', { replicas: 1 }));
      await apply(odin(mine, 'voice', { replicas: 1 }));
      await waitUntil(
        'the OdinServer in its namespace is Ready',
        async () => condition(await read(mine, 'voice'), 'Ready')?.status === 'True',
        { timeoutMs: 90_000 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${scoped.log.slice(-15).join('\n')}`);
      });
      // Reconciled after the other one was created: the other namespace is simply not seen.
      assert.equal((await read(other, 'voice')).status, undefined, 'no status outside its namespaces');
      const deployments = await apps.listNamespacedDeployment({ namespace: other });
      assert.equal(deployments.items.length, 0, 'no children outside its namespaces');
      assert.ok(
        !scoped.log.some((l) => /forbidden|watch failed/i.test(l)),
        `no call outside its Roles: ${scoped.log.filter((l) => /forbidden|watch failed/i.test(l)).join('\n')}`,
      );
    } finally {
      await scoped.stop();
      operator = await startOperator({
        kubeconfigPath: cluster.kubeconfigPath,
        identity: 'op-4',
        leaseNamespace: leaseNs,
      });
      await waitUntil('op-4 leads', () => operator.isLeader(), { timeoutMs: 30_000 });
    }
  });

  test('deleting an OdinServer garbage-collects its children', async () => {
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns1,
      plural: PLURAL,
      name: 'voice',
    });
    await waitUntil(
      'children gone',
      async () => {
        const { items } = await childrenOf(ns1);
        const pods = await core.listNamespacedPod({ namespace: ns1 });
        return items.length === 0 && pods.items.length === 0;
      },
      { timeoutMs: 120_000 },
    );
    await assert.rejects(read(ns1, 'voice'), (e: unknown) => statusCode(e) === 404);
  });
});
