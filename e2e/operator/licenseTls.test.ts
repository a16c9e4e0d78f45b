/**
 * Licences and renewed certificates under the operator, on the real control plane (docs/e2e.md)
 * with real `grid` processes (gridRunner.ts, which re-syncs mounted Secrets as the kubelet does):
 *
 * - a licence signed by an issuer the operator trusts (`--license-issuers`): the servers start
 *   with it and report; one from an untrusted issuer: `LicenseValid=False` with the reason and
 *   no pod; a tampered licence in the Secret of a running fleet: reported, nothing rolled;
 * - a TLS Secret renewed while two clients talk in a room: new TLS and QUIC handshakes present
 *   the new certificate, the room keeps talking, no pod is replaced and no process restarts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { OdinClient } from '../../client/odinClient.ts';
import { accessKeyToJwk, generateAccessKey, publicJwk, signToken } from '../../common/auth/index.ts';
import { signLicense } from '../../common/license/index.ts';
import { GROUP, type OdinServer, PLURAL, VERSION } from '../../operator/api/types.ts';
import { CONFIG_HASH_ANNOTATION } from '../../operator/render/labels.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { pemFingerprint, quicFingerprint, tlsFingerprint } from '../../test/helpers/fingerprints.ts';
import { type Cluster, startCluster, waitUntil } from '../cluster/index.ts';
import { GridRunner } from './gridRunner.ts';
import { type OperatorProcess, startOperator } from './operatorProcess.ts';

const crdFile = fileURLToPath(new URL('../../crds/odinservers.odin-grid.io.yaml', import.meta.url));
const bytes = (text: string) => new TextEncoder().encode(text);

describe('licences and renewed certificates under the operator', () => {
  let cluster: Cluster;
  let operator: OperatorProcess;
  let objects: KubernetesObjectApi;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  const runners: GridRunner[] = [];
  const clients: OdinClient[] = [];
  const issuerKey = generateAccessKey();
  const started = Date.now();

  before(
    async () => {
      cluster = await startCluster({ nodes: 3 });
      const kc = cluster.kubeConfig;
      objects = KubernetesObjectApi.makeApiClient(kc);
      custom = kc.makeApiClient(CustomObjectsApi);
      core = kc.makeApiClient(CoreV1Api);
      apps = kc.makeApiClient(AppsV1Api);
      await cluster.kubectl(['apply', '-f', crdFile]);
      await cluster.kubectl([
        'wait',
        '--for=condition=Established',
        'crd/odinservers.odin-grid.io',
        '--timeout=60s',
      ]);
      const leaseNs = await cluster.newNamespace('odin-system');
      operator = await startOperator({
        kubeconfigPath: cluster.kubeconfigPath,
        identity: 'op-lic',
        leaseNamespace: leaseNs,
        // What the chart renders from `licenseIssuers`.
        extraArgs: [`--license-issuers=${publicJwk(accessKeyToJwk(issuerKey)).x}`],
      });
      await waitUntil('the operator leads', () => operator.isLeader(), { timeoutMs: 30_000 });
    },
    { timeout: 60 * 60_000 },
  );

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const r of runners) await r.stop();
    await operator?.stop();
    await cluster?.stop();
    process.stderr.write(`[licence/TLS e2e] ${Math.round((Date.now() - started) / 1000)} s\n`);
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
  const runnerFor = (ns: string, name: string) => {
    const runner = new GridRunner({
      kubeConfig: cluster.kubeConfig,
      namespace: ns,
      labelSelector: `odin-grid.io/server=${name}`,
      volumeSyncMs: 500,
    });
    runners.push(runner);
    runner.start();
    return runner;
  };
  const podsOf = async (ns: string, name: string) =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: `odin-grid.io/server=${name}` })).items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => `${p.metadata?.name}@${p.metadata?.uid}`)
      .sort();
  const explain = (runner: GridRunner) => (e: Error) => {
    const logs = [...runner.processes.values()].flatMap((p) => p.log.slice(-10));
    throw new Error(`${e.message}\n${logs.join('\n')}\n${operator.log.slice(-10).join('\n')}`);
  };
  const licenseSecret = (ns: string, text: string) => ({
    metadata: { name: 'voice-license', namespace: ns },
    stringData: { 'license.toml': text },
  });
  const validUntil = new Date(Date.now() + 365 * 86_400_000);

  test('a licence from a trusted issuer: the real servers start with it and report; LicenseValid=True', async () => {
    const ns = await cluster.newNamespace('licensed');
    const signed = signLicense({ licensee: 'Example Games', serialNumber: 'EG-7', validUntil }, issuerKey);
    await core.createNamespacedSecret({ namespace: ns, body: licenseSecret(ns, signed) });
    const runner = runnerFor(ns, 'voice');
    await apply(
      odin(ns, 'voice', {
        replicas: 1,
        license: { secretRef: { name: 'voice-license' } },
        config: { supervisor: { report_interval: 500 } },
      }),
    );
    const s = await waitUntil(
      'Ready, LicenseValid and a reporting server',
      async () => {
        const s = await read(ns, 'voice');
        return condition(s, 'Ready')?.status === 'True' &&
          condition(s, 'LicenseValid')?.status === 'True' &&
          s.status?.servers?.some((x) => x.reporting)
          ? s
          : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch(explain(runner));
    assert.match(condition(s, 'LicenseValid')!.message, /licensed to Example Games, serial EG-7/);
    const [grid] = [...runner.processes.values()];
    assert.ok(
      grid && grid.child.exitCode === null,
      'the grid process runs (it would exit 4 on a refused licence)',
    );
    assert.ok(
      grid.log.some((line) => /licence: .*licensed to Example Games, serial EG-7/.test(line)),
      'grid itself verified the licence with the issuers the operator gave it',
    );
    assert.equal(grid.env.GRID_LICENSE_ISSUERS, publicJwk(accessKeyToJwk(issuerKey)).x);

    // The Secret is edited (a tampered licence): reported, nothing rolled, the server keeps running.
    const pods = await podsOf(ns, 'voice');
    const deployment = await apps.readNamespacedDeployment({ name: 'voice', namespace: ns });
    await core.replaceNamespacedSecret({
      name: 'voice-license',
      namespace: ns,
      body: licenseSecret(ns, signed.replace('EG-7', 'EG-8')),
    });
    const tampered = await waitUntil('LicenseValid=False BadSignature', async () => {
      const s = await read(ns, 'voice');
      return condition(s, 'LicenseValid')?.reason === 'BadSignature' ? s : undefined;
    });
    assert.equal(condition(tampered, 'LicenseValid')?.status, 'False');
    assert.equal(condition(tampered, 'Degraded')?.reason, 'LicenseInvalid');
    assert.match(condition(tampered, 'LicenseValid')!.message, /changed after it was signed/);
    // Two more reconciles with the refused licence (each report triggers one): still nothing rolled.
    const refusals = async () =>
      Number(
        /odin_operator_reconciles_total\{result="invalid"\} (\d+)/.exec(
          (await operator.get('/metrics')).body,
        )?.[1] ?? 0,
      );
    const seen = await refusals();
    await waitUntil('two more reconciles', async () => (await refusals()) >= seen + 2, { timeoutMs: 60_000 });
    const after = await apps.readNamespacedDeployment({ name: 'voice', namespace: ns });
    assert.equal(
      after.metadata?.generation,
      deployment.metadata?.generation,
      'the Deployment was not touched',
    );
    assert.deepEqual(await podsOf(ns, 'voice'), pods, 'the same pods');
    assert.equal(grid.child.exitCode, null, 'the server keeps running');
    // A pod that restarts now (deleted here, as an eviction or a node failure would) mounts the
    // licence the operator last accepted (<name>-verified-license), not the refused one: its
    // replacement starts and runs instead of exiting 4 and crash-looping.
    const [oldPod] = pods;
    await core.deleteNamespacedPod({ namespace: ns, name: oldPod!.split('@')[0]! });
    const [newPod] = await waitUntil(
      'a replacement pod runs grid with the accepted licence',
      async () => {
        const current = await podsOf(ns, 'voice');
        if (current.length !== 1 || current[0] === oldPod) return undefined;
        const replacement = runner.processes.get(current[0]!.split('@')[0]!);
        const licensed = replacement?.log.some((line) => /licence: .*serial EG-7/.test(line));
        return replacement && replacement.child.exitCode === null && licensed ? current : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch(explain(runner));
    assert.ok(newPod);
    // The good licence back: valid again, still nothing rolled (same content, same hash).
    await core.replaceNamespacedSecret({
      name: 'voice-license',
      namespace: ns,
      body: licenseSecret(ns, signed),
    });
    await waitUntil('LicenseValid=True again', async () => {
      const s = await read(ns, 'voice');
      return condition(s, 'LicenseValid')?.status === 'True' && condition(s, 'Degraded')?.status === 'False';
    });
    assert.deepEqual(await podsOf(ns, 'voice'), [newPod], 'nothing rolled');
    const events = await cluster.kubectl(['-n', ns, 'get', 'events', '-o', 'jsonpath={.items[*].reason}']);
    assert.match(events.stdout, /LicenseInvalid/);
    assert.match(events.stdout, /LicenseValid/);
  });

  test('a licence from an untrusted issuer: LicenseValid=False with the reason, a Warning event, no pod', async () => {
    const ns = await cluster.newNamespace('untrusted');
    const rogue = signLicense({ licensee: 'Rogue', validUntil }, generateAccessKey());
    await core.createNamespacedSecret({ namespace: ns, body: licenseSecret(ns, rogue) });
    await apply(odin(ns, 'voice', { replicas: 2, license: { secretRef: { name: 'voice-license' } } }));
    const s = await waitUntil('LicenseValid=False', async () => {
      const s = await read(ns, 'voice');
      return condition(s, 'LicenseValid')?.status === 'False' ? s : undefined;
    });
    const licenseValid = condition(s, 'LicenseValid')!;
    assert.equal(licenseValid.reason, 'UntrustedIssuer');
    assert.match(licenseValid.message, /not a trusted licence issuer key; trusted issuer key ids: /);
    assert.equal(condition(s, 'Ready')?.reason, 'LicenseInvalid');
    assert.equal(condition(s, 'ConfigValid')?.status, 'True', 'the config itself is fine');
    await assert.rejects(
      apps.readNamespacedDeployment({ name: 'voice', namespace: ns }),
      (e: unknown) => (e as { code?: number }).code === 404,
      'no Deployment: no pod that would exit 4',
    );
    assert.deepEqual(await podsOf(ns, 'voice'), []);
    const events = await cluster.kubectl([
      '-n',
      ns,
      'get',
      'events',
      '--field-selector',
      'reason=LicenseInvalid,type=Warning',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    assert.match(events.stdout, /not a trusted licence issuer key/);
  });

  test('a renewed TLS Secret: new handshakes get the new certificate, the room keeps talking, nothing restarts', async () => {
    const ns = await cluster.newNamespace('tls');
    // The pods listen on their node's own loopback address (status.hostIP): the certificate names it.
    const names = ['localhost', '127.0.0.1', ...Object.values(cluster.nodeAddresses)];
    const first = await createDevCertificate(names);
    const tlsSecret = (cert: { certificatePem: string; privateKeyPem: string }) => ({
      metadata: { name: 'voice-tls', namespace: ns },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': cert.certificatePem, 'tls.key': cert.privateKeyPem },
    });
    await core.createNamespacedSecret({ namespace: ns, body: tlsSecret(first) });
    const runner = runnerFor(ns, 'voice');
    await apply(
      odin(ns, 'voice', {
        replicas: 1,
        tls: { secretName: 'voice-tls' },
        config: { quic: {}, supervisor: { report_interval: 500 } },
      }),
    );
    const server = await waitUntil(
      'a reporting server',
      async () => (await read(ns, 'voice')).status?.servers?.find((s) => s.reporting && s.address),
      { timeoutMs: 90_000 },
    ).catch(explain(runner));
    const [grid] = [...runner.processes.values()];
    assert.ok(grid?.ports.http && grid.ports.quic);
    const { http, quic } = grid.ports as { http: number; quic: number };
    const host = server.address!.slice(0, server.address!.lastIndexOf(':'));
    assert.equal(await tlsFingerprint(host, http), pemFingerprint(first.certificatePem));
    assert.equal(await quicFingerprint(host, quic), pemFingerprint(first.certificatePem));

    // Two clients talk in a room (tokens signed with the fleet's access key).
    const keySecret = await core.readNamespacedSecret({ name: 'voice-access-key', namespace: ns });
    const accessKey = Buffer.from(keySecret.data!.accessKey!, 'base64').toString();
    const join = async (user: string, ca: string) => {
      const token = await signToken(accessKey, { rid: 'talk', uid: user });
      const client = await OdinClient.connect(server.address!, token, { ca, voice: false });
      clients.push(client);
      return { client, room: await client.joinRoom('talk') };
    };
    const alice = await join('alice', first.certificatePem);
    const bob = await join('bob', first.certificatePem);
    const pods = await podsOf(ns, 'voice');
    const hash = (await apps.readNamespacedDeployment({ name: 'voice', namespace: ns })).spec?.template
      .metadata?.annotations?.[CONFIG_HASH_ANNOTATION];

    // cert-manager renews the Secret in place.
    const renewed = await createDevCertificate(names);
    await core.replaceNamespacedSecret({ name: 'voice-tls', namespace: ns, body: tlsSecret(renewed) });
    const after = pemFingerprint(renewed.certificatePem);
    await waitUntil(
      'new TLS handshakes present the renewed certificate',
      async () => (await tlsFingerprint(host, http)) === after,
      { timeoutMs: 60_000 },
    ).catch(explain(runner));
    assert.equal(await quicFingerprint(host, quic), after, 'and new QUIC handshakes');
    assert.ok(grid.log.some((line) => line.includes('[http] certificate reloaded')));
    assert.ok(grid.log.some((line) => line.includes('[quic] certificate reloaded')));

    // The conversation goes on over the connections made before the renewal.
    assert.ok(alice.client.main.isOpen && bob.client.main.isOpen, 'nobody was disconnected');
    const heard = bob.room.next('message');
    await alice.room.sendMessage(bytes('still here'));
    assert.deepEqual((await heard)[0].message, bytes('still here'));
    // A newcomer who trusts only the renewed certificate joins the same room.
    const carol = await join('carol', renewed.certificatePem);
    const toCarol = carol.room.next('message');
    await bob.room.sendMessage(bytes('welcome'));
    assert.deepEqual((await toCarol)[0].message, bytes('welcome'));

    // No restart: same pods, same process, same pod template.
    assert.deepEqual(await podsOf(ns, 'voice'), pods);
    assert.equal(grid.child.exitCode, null);
    assert.equal(runner.processes.size, 1, 'no second process was started');
    const deployment = await apps.readNamespacedDeployment({ name: 'voice', namespace: ns });
    assert.equal(deployment.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION], hash);
  });
});
