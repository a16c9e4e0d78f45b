/**
 * What every operator e2e file needs (docs/e2e.md): a control plane with the committed CRD, one
 * `odin-operator` process leading, API clients, and helpers to apply and read OdinServers, run
 * real grid pods (gridRunner.ts) and place peers through the built-in supervisor's `Connect`.
 * Each file starts its own control plane, so files run one at a time and stay independent.
 */
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { OdinClient } from '../../client/odinClient.ts';
import { signToken } from '../../common/auth/index.ts';
import { GROUP, type OdinServer, PLURAL, VERSION } from '../../operator/api/types.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { type Cluster, startCluster, waitUntil } from '../cluster/index.ts';
import { GridRunner } from './gridRunner.ts';
import { type OperatorProcess, startOperator } from './operatorProcess.ts';

const crdFile = fileURLToPath(new URL('../../crds/odinservers.odin-grid.io.yaml', import.meta.url));

export type Harness = Awaited<ReturnType<typeof startHarness>>;

export async function startHarness(options: { nodes?: number; operatorArgs?: string[] } = {}) {
  const cluster: Cluster = await startCluster({ nodes: options.nodes ?? 3 });
  const kc = cluster.kubeConfig;
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await cluster.kubectl(['apply', '-f', crdFile]);
  await cluster.kubectl([
    'wait',
    '--for=condition=Established',
    'crd/odinservers.odin-grid.io',
    '--timeout=60s',
  ]);
  const leaseNs = await cluster.newNamespace('odin-system');
  const runners: GridRunner[] = [];
  const clients: OdinClient[] = [];
  const h = {
    cluster,
    objects,
    custom,
    core,
    apps,
    leaseNs,
    operator: undefined as unknown as OperatorProcess,
    async startOperator(identity = 'op-1', supervisorPort?: number): Promise<OperatorProcess> {
      h.operator = await startOperator({
        kubeconfigPath: cluster.kubeconfigPath,
        identity,
        leaseNamespace: leaseNs,
        ...(supervisorPort !== undefined ? { supervisorPort } : {}),
        ...(options.operatorArgs ? { extraArgs: options.operatorArgs } : {}),
      });
      await waitUntil(`${identity} leads`, () => h.operator.isLeader(), { timeoutMs: 30_000 });
      return h.operator;
    },
    odin(ns: string, name: string, spec: Record<string, unknown>): OdinServer {
      return {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'OdinServer',
        metadata: { name, namespace: ns },
        spec,
      };
    },
    apply(server: OdinServer) {
      return waitUntil('OdinServer applied', () =>
        objects.patch(server, undefined, undefined, 'odin-e2e', true, PatchStrategy.ServerSideApply),
      );
    },
    /** JSON merge patch of the spec (as `kubectl patch --type merge` does). */
    patchSpec(ns: string, name: string, spec: Record<string, unknown>) {
      return custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name, body: { spec } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
    read(ns: string, name: string): Promise<OdinServer> {
      return custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name,
      }) as Promise<OdinServer>;
    },
    condition(s: OdinServer, type: string) {
      return s.status?.conditions?.find((c) => c.type === type);
    },
    async events(ns: string, reason: string): Promise<{ type: string; message: string }[]> {
      const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `reason=${reason}` });
      return list.items.map((e) => ({ type: e.type ?? '', message: e.message ?? '' }));
    },
    async pods(ns: string, server: string) {
      const list = await core.listNamespacedPod({
        namespace: ns,
        labelSelector: `odin-grid.io/server=${server}`,
      });
      return list.items.filter((p) => !p.metadata?.deletionTimestamp);
    },
    /** A TLS Secret `grid-tls` for the nodes' addresses (and localhost); returns the CA for clients. */
    async tlsSecret(ns: string): Promise<string> {
      const cert = await createDevCertificate([
        'localhost',
        '127.0.0.1',
        // The pods' public addresses: each kwok node's own loopback InternalIP.
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
      return cert.certificatePem;
    },
    runner(ns: string, server: string): GridRunner {
      const runner = new GridRunner({
        kubeConfig: kc,
        namespace: ns,
        labelSelector: `odin-grid.io/server=${server}`,
      });
      runners.push(runner);
      runner.start();
      return runner;
    },
    async accessKey(ns: string, server: string): Promise<string> {
      const s = await core.readNamespacedSecret({ name: `${server}-access-key`, namespace: ns });
      return Buffer.from(s.data!.accessKey!, 'base64').toString();
    },
    /** `Connect` through the built-in supervisor: where the room is and a token for it. */
    async connect(ns: string, server: string, accessKey: string, room: string, user: string) {
      const token = await signToken(accessKey, { rid: room, uid: user }, { audience: 'gateway' });
      const res = await fetch(`http://127.0.0.1:${h.operator.connectPort}/${ns}/${server}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Connect', params: {} }),
      });
      const body = (await res.json()) as { result?: { address: string; token: string }; error?: unknown };
      if (!body.result) throw new Error(`Connect: ${JSON.stringify(body)}`);
      return body.result;
    },
    /** A peer (no voice) in `room` on the server at `address`. */
    async join(address: string, token: string, room: string, ca: string): Promise<OdinClient> {
      const client = await OdinClient.connect(address, token, { ca, voice: false });
      clients.push(client);
      await client.joinRoom(room);
      return client;
    },
    /** Logs that explain a failure: the operator's and the grid processes' last lines. */
    explain(e: Error): Error {
      const grids = runners.flatMap((r) => [...r.processes.values()].flatMap((p) => p.log.slice(-8)));
      return new Error(
        `${e.message}\n--- grid\n${grids.join('\n')}\n--- operator\n${h.operator?.log.slice(-20).join('\n')}`,
      );
    },
    async stop(): Promise<void> {
      for (const c of clients) await c.close().catch(() => {});
      for (const r of runners) await r.stop();
      await h.operator?.stop();
      await cluster.stop();
    },
  };
  return h;
}
