/**
 * The whole product as a user meets it, on the real control plane (docs/e2e.md): `helm install`
 * the chart, `kubectl apply` an OdinServer from examples/, the fleet comes up and turns Ready,
 * a client asks `Connect` for a room and exchanges voice with a second client, load scales the
 * fleet out and in without cutting the remaining room, a config change rolls the servers, and
 * `helm uninstall` leaves nothing behind.
 *
 * kwok pods run no containers, so (as in e2e/operator) the operator runs as a host process and
 * the pod runner (e2e/operator/gridRunner.ts) starts a real `grid` for each Running pod of the
 * fleet. The operator process authenticates as the chart's ServiceAccount (a TokenRequest
 * token): the scenario passing proves the chart's RBAC is enough, and a test proves calls
 * outside it are refused.
 *
 * Run alone: npm run e2e:ship (or node --test --test-timeout=600000 e2e/ship/ship.test.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { OdinClient, type OdinRoom } from '../../client/odinClient.ts';
import { signToken } from '../../common/auth/index.ts';
import { GROUP, type OdinServer, PLURAL, VERSION } from '../../operator/api/types.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../../test/helpers/voice.ts';
import { type Cluster, startCluster, waitUntil } from '../cluster/index.ts';
import { GridRunner } from '../operator/gridRunner.ts';
import { type OperatorProcess, startOperator } from '../operator/operatorProcess.ts';

const repo = join(import.meta.dirname, '..', '..');
const chart = join(repo, 'charts', 'odin-operator');
const RELEASE = 'odin-operator';
const SA = 'odin-operator';
const statusCode = (err: unknown) => (err as { code?: number }).code;

type Peer = { client: OdinClient; room: OdinRoom; inbox: VoiceInbox; address: string };

describe('ship: helm install, an OdinServer, Connect and voice, autoscaling, a rollout, helm uninstall', () => {
  let cluster: Cluster;
  let ns: string;
  let operator: OperatorProcess | undefined;
  let runner: GridRunner | undefined;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let saKubeconfig: string;
  let cert: Awaited<ReturnType<typeof createDevCertificate>>;
  const peers: Peer[] = [];
  const started = Date.now();

  before(
    async () => {
      cluster = await startCluster({ nodes: 3 });
      custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
      core = cluster.kubeConfig.makeApiClient(CoreV1Api);
      apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
      ns = await cluster.newNamespace('odin-system');
      cert = await createDevCertificate(['localhost', '127.0.0.1', ...Object.values(cluster.nodeAddresses)]);
    },
    { timeout: 60 * 60_000 },
  );

  after(async () => {
    for (const p of peers) await p.client.close().catch(() => {});
    await runner?.stop();
    await operator?.stop();
    await cluster?.stop();
    process.stderr.write(`[ship e2e] ${Math.round((Date.now() - started) / 1000)} s\n`);
  });

  const read = (name: string) =>
    custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name,
    }) as Promise<OdinServer>;
  const condition = (s: OdinServer, type: string) => s.status?.conditions?.find((c) => c.type === type);
  const diagnose = (e: Error) => {
    const grids = [...(runner?.processes.values() ?? [])].flatMap((p) => p.log.slice(-5));
    return new Error(
      `${e.message}\n--- operator\n${operator?.log.slice(-15).join('\n')}\n--- grid\n${grids.join('\n')}`,
    );
  };
  const gridPods = async () =>
    (
      await core.listNamespacedPod({ namespace: ns, labelSelector: 'odin-grid.io/server=voice' })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);

  test('helm install: the CRD, the operator, its ServiceAccount, RBAC and Service, a fleet from values', async () => {
    // The certificate the example fleets name (examples/operator/*.yaml: voice-tls).
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'voice-tls' },
        type: 'kubernetes.io/tls',
        stringData: { 'tls.crt': cert.certificatePem, 'tls.key': cert.privateKeyPem },
      },
    });
    await cluster.helm([
      'install',
      RELEASE,
      chart,
      '-n',
      ns,
      '-f',
      join(repo, 'examples/operator/helm-values.yaml'),
    ]);
    await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/odinservers.odin-grid.io',
      '--timeout=60s',
    ]);
    await cluster.kubectl(['-n', ns, 'rollout', 'status', `deployment/${RELEASE}`, '--timeout=90s']);
    const { stdout } = await cluster.kubectl([
      '-n',
      ns,
      'get',
      'serviceaccount,service,deployment,role,rolebinding,odinserver',
      '-l',
      `app.kubernetes.io/instance=${RELEASE}`,
      '-o',
      'name',
    ]);
    assert.deepEqual(stdout.trim().split('\n').sort(), [
      `deployment.apps/${RELEASE}`,
      'odinserver.odin-grid.io/lobby',
      `role.rbac.authorization.k8s.io/${RELEASE}-leader-election`,
      `rolebinding.rbac.authorization.k8s.io/${RELEASE}-leader-election`,
      `service/${RELEASE}`,
      `service/${RELEASE}-connect`,
      `serviceaccount/${SA}`,
    ]);
    const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.readClusterRole({ name: RELEASE });
    await rbac.readClusterRoleBinding({ name: RELEASE });
    const deployment = await apps.readNamespacedDeployment({ name: RELEASE, namespace: ns });
    const pod = deployment.spec!.template.spec!;
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(pod.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(pod.containers[0]!.securityContext?.capabilities?.drop, ['ALL']);
  });

  test('every rendered manifest and example passes a server-side dry run', async () => {
    // Every optional part the cluster has an API for (no Prometheus Operator here: no
    // ServiceMonitor/PodMonitor), as another release so names do not collide.
    const { stdout } = await cluster.helm([
      'template',
      'dryrun',
      chart,
      '-n',
      ns,
      '--set',
      'replicaCount=2',
      '--set',
      'networkPolicy.enabled=true',
      '-f',
      join(repo, 'examples/operator/helm-values.yaml'),
    ]);
    // watchNamespaces: Roles in the namespace instead of the ClusterRole (another release name).
    const { stdout: namespaced } = await cluster.helm([
      'template',
      'dryrun-ns',
      chart,
      '-n',
      ns,
      '--set',
      `watchNamespaces={${ns}}`,
    ]);
    assert.match(namespaced, /kind: Role\n/);
    assert.match(namespaced, /--watch-namespaces=/);
    const crd = readFileSync(join(chart, 'crds', 'odinservers.odin-grid.io.yaml'), 'utf8');
    const docs = [
      crd,
      stdout,
      namespaced,
      // The examples, each into this namespace.
      ...['minimal.yaml', 'odinserver.yaml'].map((f) => {
        const o = parseYaml(readFileSync(join(repo, 'examples/operator', f), 'utf8'));
        o.metadata.namespace = ns;
        return stringify(o);
      }),
    ].join('\n---\n');
    const kinds = parseAllDocuments(docs)
      .map((d) => d.toJS() as { kind?: string } | null)
      .filter((o) => o?.kind)
      .map((o) => o!.kind);
    assert.ok(
      kinds.includes('NetworkPolicy') && kinds.includes('Deployment') && kinds.includes('OdinServer'),
    );
    const dry = await cluster.kubectl(
      ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'],
      {
        input: docs,
      },
    );
    assert.equal(dry.stdout.trim().split('\n').length, kinds.length, dry.stdout);
  });

  test("the operator runs as the chart's ServiceAccount; calls outside its RBAC are refused", async () => {
    const { stdout: token } = await cluster.kubectl(['-n', ns, 'create', 'token', SA, '--duration=2h']);
    const admin = cluster.kubeConfig.getCurrentCluster()!;
    const ca = admin.caData ?? Buffer.from(readFileSync(admin.caFile!)).toString('base64');
    saKubeconfig = join(cluster.dir, 'odin-operator-sa.kubeconfig');
    writeFileSync(
      saKubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'e2e', cluster: { server: cluster.apiUrl, 'certificate-authority-data': ca } }],
        users: [{ name: SA, user: { token: token.trim() } }],
        contexts: [{ name: SA, context: { cluster: 'e2e', user: SA, namespace: ns } }],
        'current-context': SA,
      }),
      { mode: 0o600 },
    );
    operator = await startOperator({ kubeconfigPath: saKubeconfig, identity: 'ship-1', leaseNamespace: ns });
    await waitUntil('the operator leads (its Role allows the Lease)', () => operator!.isLeader(), {
      timeoutMs: 30_000,
    }).catch((e: Error) => {
      throw diagnose(e);
    });
    // The same identity, asking for what the operator never does.
    const kc = new KubeConfig();
    kc.loadFromFile(saKubeconfig);
    const saCore = kc.makeApiClient(CoreV1Api);
    const saCustom = kc.makeApiClient(CustomObjectsApi);
    const forbidden = async (what: string, call: () => Promise<unknown>) =>
      assert.equal(await call().then(() => 200, statusCode), 403, `${what} must be forbidden`);
    // Pods: `delete` is granted (servers held through a rollout go once empty); Services are not.
    const [aService] = (await core.listNamespacedService({ namespace: ns })).items;
    await forbidden('delete a Service', () =>
      saCore.deleteNamespacedService({ name: aService!.metadata!.name!, namespace: ns }),
    );
    await forbidden('get a Secret by name', () =>
      saCore.readNamespacedSecret({ name: 'voice-tls', namespace: ns }),
    );
    await forbidden('list namespaces', () => saCore.listNamespace());
    await forbidden('create a namespace', () =>
      saCore.createNamespace({ body: { metadata: { name: 'nope' } } }),
    );
    await forbidden('delete an OdinServer', () =>
      saCustom.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name: 'lobby',
      }),
    );
    await forbidden('delete a Deployment', () =>
      kc.makeApiClient(AppsV1Api).deleteNamespacedDeployment({ name: RELEASE, namespace: ns }),
    );
    await forbidden('list ClusterRoles', () => kc.makeApiClient(RbacAuthorizationV1Api).listClusterRole());
    // A Lease other than the release's own (the Role names its Lease).
    await forbidden('read another Lease', () =>
      kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'someone-else', namespace: ns }),
    );
  });

  test('kubectl apply examples/operator/minimal.yaml: every child appears and the status becomes Ready', async () => {
    runner = new GridRunner({
      kubeConfig: cluster.kubeConfig,
      namespace: ns,
      labelSelector: 'odin-grid.io/server=voice',
    });
    runner.start();
    // The example as it is, with only what makes the test quick: small limits so three peers
    // are a high load, a fast report interval, short windows.
    const example = parseYaml(readFileSync(join(repo, 'examples/operator/minimal.yaml'), 'utf8'));
    example.spec.config.limit.max_peers = 4;
    example.spec.config.supervisor = { report_interval: 500 };
    example.spec.autoscaling = {
      ...example.spec.autoscaling,
      maxReplicas: 2,
      target: { type: 'Load', loadPercent: 60 },
      scaleDownDelaySeconds: 3,
    };
    example.spec.drainGracePeriodSeconds = 5;
    await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: stringify(example) });
    const ready = await waitUntil(
      'voice Ready with a reporting server',
      async () => {
        const s = await read('voice');
        return condition(s, 'Ready')?.status === 'True' && s.status?.servers?.some((x) => x.reporting)
          ? s
          : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw diagnose(e);
    });
    assert.equal(ready.status?.readyReplicas, 1);
    assert.equal(condition(ready, 'ConfigValid')?.status, 'True');
    const { stdout } = await cluster.kubectl([
      '-n',
      ns,
      'get',
      'configmap,secret,deployment,service,pdb',
      '-l',
      'odin-grid.io/server=voice',
      '-o',
      'name',
    ]);
    assert.deepEqual(stdout.trim().split('\n').sort(), [
      'configmap/voice-config',
      'deployment.apps/voice',
      'poddisruptionbudget.policy/voice',
      'secret/voice-access-key',
      'secret/voice-supervisor',
      'service/voice',
    ]);
    // The fleet from the chart's values got its children too.
    await waitUntil('the lobby Deployment', () =>
      apps.readNamespacedDeployment({ name: 'lobby', namespace: ns }),
    );
  });

  let accessKey = '';
  const connect = async (room: string, user: string) => {
    const token = await signToken(accessKey, { rid: room, uid: user }, { audience: 'gateway' });
    const res = await fetch(`http://127.0.0.1:${operator!.connectPort}/${ns}/voice`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Connect', params: {} }),
    });
    const body = (await res.json()) as { result?: { address: string; token: string }; error?: unknown };
    if (!body.result) throw new Error(`Connect: ${JSON.stringify(body)}`);
    return body.result;
  };
  const enter = async (room: string, user: string): Promise<Peer> => {
    const placed = await connect(room, user);
    const client = await OdinClient.connect(placed.address, placed.token, { ca: cert.certificatePem });
    const inbox = new VoiceInbox(client);
    const joined = await client.joinRoom(room);
    const peer = { client, room: joined, inbox, address: placed.address };
    peers.push(peer);
    return peer;
  };
  const talk = async (from: Peer, to: Peer) => {
    to.inbox.clear();
    const packets = voicePackets(from.room.mediaId, 10);
    for (const p of packets) assert.ok(from.client.sendVoice(p), 'the voice channel takes the packet');
    await to.inbox.waitFor(packets.length, 10_000);
    assert.ok(sameBytes(to.inbox.packets, packets), 'forwarded unchanged');
  };
  let alice: Peer;
  let bob: Peer;

  test('Connect places a room; two clients join the returned server with the returned tokens and talk', async () => {
    const key = await core.readNamespacedSecret({ name: 'voice-access-key', namespace: ns });
    accessKey = Buffer.from(key.data!.accessKey!, 'base64').toString();
    alice = await enter('lounge', 'alice');
    bob = await enter('lounge', 'bob');
    assert.equal(alice.address, bob.address, 'a known room stays on its server');
    await alice.room.startMedia();
    await bob.room.startMedia();
    await talk(alice, bob);
    await talk(bob, alice);
  });

  test('load scales the fleet out; when it drops, in again without cutting the remaining room', async () => {
    // A third peer: load 3/4 > 60 % -> 2 servers.
    const carol = await enter('lounge', 'carol');
    const two = await waitUntil(
      'autoscaled to 2 reporting servers',
      async () => {
        const s = await read('voice');
        const reporting = (s.status?.servers ?? []).filter((x) => x.reporting);
        return s.spec?.replicas === 2 && reporting.length === 2 ? reporting : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw diagnose(e);
    });
    const { stdout: events } = await cluster.kubectl([
      '-n',
      ns,
      'get',
      'events',
      '--field-selector',
      'reason=ScalingUp',
      '-o',
      'name',
    ]);
    assert.ok(events.trim(), 'a ScalingUp event (the ClusterRole allows events)');
    // Load drops: 2/4 on one server, none on the other -> back to 1; the empty one goes.
    await carol.client.close();
    peers.splice(peers.indexOf(carol), 1);
    const empty = two.find((x) => x.address !== alice.address)!;
    await waitUntil(
      'scaled in to the server with the room',
      async () => {
        const s = await read('voice');
        const pods = await gridPods();
        return s.spec?.replicas === 1 && pods.length === 1 && s.status?.servers?.length === 1 ? s : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw diagnose(e);
    });
    const remaining = (await read('voice')).status!.servers![0]!;
    assert.notEqual(remaining.address, empty.address);
    assert.equal(remaining.address, alice.address);
    assert.ok(alice.client.main.isOpen && bob.client.main.isOpen, 'the room was not cut');
    await talk(alice, bob);
  });

  test('a config change rolls the servers', async () => {
    for (const p of peers.splice(0)) await p.client.close();
    const before = (await gridPods()).map((p) => p.metadata?.name);
    await cluster.kubectl([
      '-n',
      ns,
      'patch',
      'odin/voice',
      '--type=merge',
      '-p',
      '{"spec":{"config":{"limit":{"max_peers":8}}}}',
    ]);
    await waitUntil(
      'new servers Ready and reporting',
      async () => {
        const pods = await gridPods();
        const s = await read('voice');
        return (
          pods.length === 1 &&
          pods.every((p) => !before.includes(p.metadata?.name)) &&
          condition(s, 'Ready')?.status === 'True' &&
          s.status?.servers?.length === 1 &&
          // Placeable: a fresh server's first reports may say load 1 (its event loop was busy
          // starting, cpu is a term of load), and Connect places no room on a full server.
          s.status.servers.every((x) => x.reporting && x.load < 1)
        );
      },
      { timeoutMs: 120_000 },
    ).catch((e: Error) => {
      throw diagnose(e);
    });
    const cm = await core.readNamespacedConfigMap({ name: 'voice-config', namespace: ns });
    assert.match(cm.data?.['config.toml'] ?? '', /max_peers = 8/);
    // The new server takes a room.
    const [a, b] = [await enter('after-roll', 'a'), await enter('after-roll', 'b')];
    await a.room.startMedia();
    await talk(a, b);
    for (const p of peers.splice(0)) await p.client.close();
  });

  test('helm uninstall leaves nothing behind (the CRD stays, as Helm does, until deleted)', async () => {
    // The user's own OdinServer goes first (it is not the release's), while the operator runs.
    await cluster.kubectl(['-n', ns, 'delete', 'odin/voice', '--wait=true', '--timeout=60s']);
    await operator!.stop();
    operator = undefined;
    await cluster.helm(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '2m']);
    const leftovers = async () => {
      const { stdout } = await cluster.kubectl([
        '-n',
        ns,
        'get',
        'all,configmap,secret,serviceaccount,role,rolebinding,pdb,networkpolicy,lease,odinserver',
        '-o',
        'name',
      ]);
      return stdout
        .trim()
        .split('\n')
        .filter(
          (n) =>
            n &&
            n !== 'configmap/kube-root-ca.crt' &&
            n !== 'serviceaccount/default' &&
            n !== 'secret/voice-tls' && // the user's own certificate
            // The released Lease (holder cleared on SIGTERM): the operator has no delete verb.
            n !== `lease.coordination.k8s.io/${RELEASE}`,
        );
    };
    // Garbage collection of the fleets' children (owner references).
    await waitUntil(
      'nothing left in the namespace',
      async () => ((await leftovers()).length === 0 ? true : undefined),
      {
        timeoutMs: 90_000,
      },
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${(await leftovers()).join(', ')}`);
    });
    const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await assert.rejects(rbac.readClusterRole({ name: RELEASE }), (e: unknown) => statusCode(e) === 404);
    await assert.rejects(
      rbac.readClusterRoleBinding({ name: RELEASE }),
      (e: unknown) => statusCode(e) === 404,
    );
    // Helm never deletes CRDs (every OdinServer in the cluster would go with it): the README's last step.
    await cluster.kubectl(['get', 'crd', 'odinservers.odin-grid.io']);
    await cluster.kubectl(['delete', 'crd', 'odinservers.odin-grid.io', '--wait=true', '--timeout=60s']);
    assert.equal(runner!.processes.size >= 3, true, 'grid processes ran: initial, scale-out, rollout');
  });
});
