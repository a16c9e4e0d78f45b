/**
 * ICE-TCP reaches the webrtc port over TCP in every networking mode (docs/networking.md): web
 * clients whose network blocks UDP fall back to TCP candidates on `ports.webrtc`, so the
 * rendered objects must carry that number on TCP as well as UDP, while QUIC stays UDP only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ContainerPort, V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { generateAccessKey } from '../../common/auth/index.ts';
import { planPorts, type Reservation } from '../../operator/controller/portAllocation.ts';
import { isOutdated } from '../../operator/controller/rollout.ts';
import { configHash } from '../../operator/render/config.ts';
import { parseRenderedConfig } from '../../operator/render/endpoint.ts';
import { withPodPorts } from '../../operator/render/hostPorts.ts';
import { renderChildren, validate } from '../../operator/render/index.ts';
import { CONFIG_HASH_ANNOTATION } from '../../operator/render/labels.ts';
import { odinServer } from './helpers.ts';
import { gridPod } from './podFixtures.ts';

const quic = { config: { quic: {} } };
const accessKey = generateAccessKey();
const input = (spec: Record<string, unknown>) => ({
  server: odinServer(spec),
  accessKeys: { accessKey },
  supervisorSecret: { masterKey: Buffer.alloc(32, 1).toString('base64') },
  deploymentReplicas: 1,
  supervisorUrl: 'http://odin-operator.odin-system:7000',
  pods: ['voice-a'],
});

function rendered(spec: Record<string, unknown>) {
  const r = renderChildren(input(spec));
  assert.deepEqual(r.errors, []);
  const deployment = r.objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const pod = deployment.spec!.template.spec!;
  const services = r.objects.filter((o) => o.kind === 'Service') as V1Service[];
  return {
    pod,
    ports: pod.containers[0]!.ports ?? [],
    services,
    configToml: r.configToml,
    hash: r.configHash,
  };
}

/** `name protocol containerPort[→hostPort]` of each container port, for readable diffs. */
const describe = (ports: readonly V1ContainerPort[]) =>
  ports.map(
    (p) => `${p.name} ${p.protocol} ${p.containerPort}${p.hostPort === undefined ? '' : `→${p.hostPort}`}`,
  );

test('HostPort: the webrtc port is a host port on UDP and on TCP; QUIC stays UDP', () => {
  const { ports } = rendered({ networking: { mode: 'HostPort' }, ...quic });
  assert.deepEqual(describe(ports), [
    'http TCP 4433→4433',
    'webrtc UDP 8844→8844',
    'webrtc-tcp TCP 8844→8844',
    'quic UDP 4433→4433',
    'metrics TCP 9000',
  ]);
});

test('HostNetwork: the webrtc port is declared on both protocols (the scheduler keeps it free on the node)', () => {
  const { pod, ports } = rendered({ networking: { mode: 'HostNetwork', ports: { webrtc: 9844 } }, ...quic });
  assert.equal(pod.hostNetwork, true);
  assert.deepEqual(describe(ports), [
    'http TCP 4433',
    'webrtc UDP 9844',
    'webrtc-tcp TCP 9844',
    'quic UDP 4433',
    'metrics TCP 9000',
  ]);
});

test("LoadBalancer: the pod's Service carries the webrtc port on UDP and TCP, each to a named container port", () => {
  const { ports, services } = rendered({ networking: { mode: 'LoadBalancer' }, ...quic });
  const lb = services.find((s) => s.spec?.type === 'LoadBalancer')!;
  assert.deepEqual(
    lb.spec!.ports!.map((p) => `${p.name} ${p.protocol} ${p.port}→${p.targetPort}`),
    ['http TCP 4433→http', 'webrtc UDP 8844→webrtc', 'webrtc-tcp TCP 8844→webrtc-tcp', 'quic UDP 4433→quic'],
  );
  for (const servicePort of lb.spec!.ports!) {
    const target = ports.find((p) => p.name === servicePort.targetPort);
    assert.equal(target?.protocol, servicePort.protocol, `${servicePort.name}: same protocol behind it`);
    assert.equal(target?.containerPort, servicePort.port);
  }
  assert.ok(
    ports.every((p) => p.hostPort === undefined),
    'no host ports behind a load balancer',
  );
  assert.equal(lb.spec!.loadBalancerClass, undefined);
});

test('LoadBalancer: the class and annotations a cloud needs for a mixed-protocol Service reach every pod Service', () => {
  const loadBalancer = {
    loadBalancerClass: 'networking.gke.io/l4-regional-external',
    annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'external' },
  };
  const { services } = rendered({ networking: { mode: 'LoadBalancer', loadBalancer } });
  const lb = services.find((s) => s.spec?.type === 'LoadBalancer')!;
  assert.equal(lb.spec!.loadBalancerClass, 'networking.gke.io/l4-regional-external');
  assert.equal(lb.metadata!.annotations!['service.beta.kubernetes.io/aws-load-balancer-type'], 'external');
  const headless = services.find((s) => s.spec?.clusterIP === 'None')!;
  assert.equal(headless.metadata!.annotations, undefined, 'only the per-pod Services');
});

test('PortRange: the pod binds its one assigned webrtc port for UDP and ICE-TCP; the operator never hands out a number another pod holds on either protocol', () => {
  const server = odinServer({ networking: { mode: 'PortRange', portRange: { min: 7000, max: 7099 } } });
  // A HostPort fleet's pod on the same node, webrtc on 7001: TCP and UDP (as rendered above).
  const other = gridPod('other-a', { uid: 'uid-other', server: 'other' });
  other.spec!.nodeName = 'node-1';
  other.spec!.containers = [
    {
      name: 'grid',
      ports: [
        { name: 'http', containerPort: 7000, hostPort: 7000, protocol: 'TCP' },
        { name: 'webrtc-tcp', containerPort: 7001, hostPort: 7001, protocol: 'TCP' },
      ],
    },
  ];
  const pod: V1Pod = gridPod('voice-a', { uid: 'uid-a' });
  pod.spec!.nodeName = 'node-1';
  const plan = planPorts({
    server,
    pods: [pod],
    allPods: [other, pod],
    reservations: new Map<string, Reservation>(),
  });
  const ports = plan.assign[0]!.ports;
  assert.deepEqual(ports, { http: 7002, webrtc: 7003, metrics: 7004 }, 'TCP-held 7000 and 7001 skipped');
  // The server's webrtc binding, which its UDP socket and its ICE-TCP listener share.
  const { configToml } = rendered({ networking: { mode: 'PortRange' } });
  const config = withPodPorts(parseRenderedConfig(configToml), ports);
  assert.equal(config.http?.webrtc_binding, '0.0.0.0:7003');
});

test('networking.webrtcTcp false: UDP only in every mode', () => {
  for (const mode of ['HostPort', 'HostNetwork', 'LoadBalancer']) {
    const { ports, services } = rendered({ networking: { mode, webrtcTcp: false } });
    assert.ok(!ports.some((p) => p.name === 'webrtc-tcp'), mode);
    assert.ok(
      ports.some((p) => p.name === 'webrtc' && p.protocol === 'UDP'),
      mode,
    );
    for (const s of services) assert.ok(!s.spec?.ports?.some((p) => p.protocol === 'TCP' && p.port === 8844));
  }
});

test('validation: the webrtc port number is taken on TCP too; webrtc_enforce_tcp needs webrtcTcp', () => {
  const messages = (spec: Record<string, unknown>) =>
    validate(odinServer(spec))
      .filter((e) => e.path.startsWith('spec.networking'))
      .map((e) => `${e.path}: ${e.message}`);
  assert.deepEqual(messages({ networking: { ports: { http: 8844 } } }), [
    'spec.networking.ports.webrtc: clashes with ports.http (TCP 8844: ICE-TCP uses it)',
  ]);
  assert.deepEqual(messages({ networking: { ports: { metrics: 8844 } } }), [
    'spec.networking.ports.webrtc: clashes with ports.metrics (TCP 8844: ICE-TCP uses it)',
  ]);
  // QUIC is UDP: it may share the http (TCP) number, as by default, but not the webrtc one.
  assert.deepEqual(messages(quic), []);
  assert.deepEqual(
    messages({ networking: { webrtcTcp: false }, config: { http: { webrtc_enforce_tcp: true } } }),
    [
      'spec.networking.webrtcTcp: must be true with config.http.webrtc_enforce_tcp (web clients then get only TCP candidates)',
    ],
  );
  assert.deepEqual(messages({ config: { http: { webrtc_enforce_tcp: true } } }), []);
});

test('the TCP port rolls pods as a config change does (held while they have rooms); a fleet that turns it off keeps its hash', () => {
  const on = rendered({});
  const off = rendered({ networking: { webrtcTcp: false } });
  assert.equal(on.configToml, off.configToml);
  // Off: the hash of the same fleet rendered before the TCP port existed, so no rollout.
  assert.equal(off.hash, configHash([off.configToml, '', '']));
  assert.notEqual(on.hash, off.hash);
  // A server started without the TCP port is outdated: rollout.ts holds it while it has rooms,
  // where a plain template change would SIGTERM it.
  const old = gridPod('voice-old', { annotations: { [CONFIG_HASH_ANNOTATION]: off.hash } });
  old.spec!.containers = [{ name: 'grid', image: odinServer().spec.image }];
  assert.equal(isOutdated(old, odinServer(), on.hash), true);
  assert.equal(isOutdated(old, odinServer({ networking: { webrtcTcp: false } }), off.hash), false);
});
