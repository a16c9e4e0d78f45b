import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { V1Deployment, V1Secret } from '@kubernetes/client-node';
import { generateAccessKey } from '../../common/auth/index.ts';
import { crdPath, crdYaml } from '../../operator/api/crd.ts';
import { renderGridConfig, sampleGridEnv } from '../../operator/render/config.ts';
import { parseRenderedConfig, podEndpoint, podPublicAddress } from '../../operator/render/endpoint.ts';
import { renderChildren, validate } from '../../operator/render/index.ts';
import { CONFIG_HASH_ANNOTATION } from '../../operator/render/labels.ts';
import { parseConfigText, publicAddressFor } from '../../server/config/index.ts';
import { odinServer } from './helpers.ts';

const accessKey = generateAccessKey();
const input = (spec: Record<string, unknown> = {}) => ({
  server: odinServer(spec),
  accessKeys: { accessKey },
  supervisorSecret: { masterKey: Buffer.alloc(32, 1).toString('base64') },
  deploymentReplicas: 2,
  supervisorUrl: 'http://odin-operator.odin-system:7000',
  pods: ['voice-a'],
});

test('crds/ holds the CRD generated from operator/api/crd.ts (run `node operator/api/crd.ts --write`)', () => {
  assert.equal(readFileSync(crdPath, 'utf8'), crdYaml());
});

test('the rendered config.toml loads in the server with the per-pod variables', () => {
  const { toml, errors } = renderGridConfig(odinServer({ config: { limit: { max_peers: 50 } } }), []);
  assert.deepEqual(errors, []);
  const config = parseConfigText(toml, { env: { ...sampleGridEnv, GRID_PUBLIC_ADDRESS: '203.0.113.5' } });
  assert.equal(config.http?.binding, '0.0.0.0:4433');
  assert.equal(config.metrics?.binding, '0.0.0.0:9000');
  assert.equal(config.limit.max_peers, 50);
  assert.equal(config.shutdown.grace_period, 60_000);
  assert.equal(config.supervisor?.no_warmup, false, 'the built-in supervisor hears the first report at once');
  assert.equal(publicAddressFor(config, 'http'), '203.0.113.5:4433');
  assert.doesNotMatch(toml, /public_address|url\s*=/, 'per-pod values are not in the ConfigMap');
});

test('an invalid spec.config is reported with its key path, every problem at once', () => {
  const errors = validate(
    odinServer({
      config: {
        http: { webrtc_nack_buffer_log2: 99 },
        log: { terminal: { filters: ['nonsense=loud'] } },
        public_address: 'x',
      },
    }),
  );
  const paths = errors.map((e) => e.path);
  assert.ok(paths.includes('spec.config.http.webrtc_nack_buffer_log2'), JSON.stringify(errors));
  assert.ok(paths.includes('spec.config.public_address'), JSON.stringify(errors));
  assert.ok(
    paths.some((p) => p.startsWith('spec.config.log.terminal.filters')),
    JSON.stringify(errors),
  );
});

test('spec errors: port clashes, FreePeers without max_peers, min > max', () => {
  const errors = validate(
    odinServer({
      networking: { ports: { http: 9000 } },
      autoscaling: { minReplicas: 5, maxReplicas: 2, target: { type: 'FreePeers', freePeers: 10 } },
    }),
  );
  const paths = errors.map((e) => e.path).sort();
  assert.deepEqual(paths, [
    'spec.autoscaling.minReplicas',
    'spec.config.limit.max_peers',
    'spec.networking.ports.metrics',
  ]);
});

test('children: Secrets, ConfigMap, Deployment, Service, PDB, all owned by the OdinServer', () => {
  const rendered = renderChildren(input());
  assert.deepEqual(rendered.errors, []);
  const kinds = rendered.objects.map((o) => `${o.kind}/${o.metadata?.name}`);
  assert.deepEqual(kinds, [
    'Secret/voice-access-key',
    'Secret/voice-supervisor',
    'ConfigMap/voice-config',
    'Deployment/voice',
    'Service/voice',
    'PodDisruptionBudget/voice',
  ]);
  for (const o of rendered.objects) {
    assert.equal(o.metadata?.ownerReferences?.[0]?.kind, 'OdinServer');
    assert.equal(o.metadata?.ownerReferences?.[0]?.controller, true);
  }
  const configMap = rendered.objects.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
  assert.doesNotMatch(configMap.data['config.toml']!, /\bd\s*=/, 'no private key in the ConfigMap');
  assert.doesNotMatch(configMap.data['config.toml']!, new RegExp(accessKey.replace(/[+/]/g, '.')));
});

test("the Deployment: per-pod address from the downward API; the pod's own bound token for the supervisor; host ports", () => {
  const rendered = renderChildren(input());
  const deployment = rendered.objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const pod = deployment.spec!.template.spec!;
  const env = Object.fromEntries(pod.containers[0]!.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.GRID_PUBLIC_ADDRESS, '$(HOST_IP)');
  // No shared password: each pod sends its own projected ServiceAccount token, for our audience.
  assert.equal(
    env.GRID_SUPERVISOR_URL,
    'http://odin-operator.odin-system:7000/internal/games/voice/$(POD_NAME)',
  );
  assert.equal(env.GRID_SUPERVISOR_TOKEN_FILE, '/var/run/secrets/odin-grid.io/supervisor/token');
  assert.ok(!Object.keys(env).some((n) => n.includes('PASSWORD')));
  const volume = pod.volumes!.find((v) => v.name === 'supervisor-token');
  assert.deepEqual(volume?.projected?.sources, [
    { serviceAccountToken: { audience: 'odin-grid.io/supervisor', expirationSeconds: 3600, path: 'token' } },
  ]);
  assert.deepEqual(
    pod.containers[0]!.volumeMounts!.find((m) => m.name === 'supervisor-token'),
    { name: 'supervisor-token', mountPath: '/var/run/secrets/odin-grid.io/supervisor', readOnly: true },
  );
  assert.equal(pod.automountServiceAccountToken, false, 'grid gets no Kubernetes API token');
  assert.deepEqual(
    pod.containers[0]!.ports!.map((p) => [p.name, p.protocol, p.hostPort]),
    [
      ['http', 'TCP', 4433],
      ['webrtc', 'UDP', 8844],
      ['webrtc-tcp', 'TCP', 8844],
      ['metrics', 'TCP', undefined],
    ],
  );
  assert.equal(deployment.spec!.replicas, 2);
  assert.equal(pod.terminationGracePeriodSeconds, 75);
  for (const name of Object.keys(env)) {
    if (name.startsWith('GRID_'))
      assert.ok(
        ['GRID_PUBLIC_ADDRESS', 'GRID_SUPERVISOR_URL', 'GRID_SUPERVISOR_TOKEN_FILE'].includes(name),
        `${name} is a config key`,
      );
  }
});

test('a config change changes the config hash (rolling update); the same spec renders the same objects', () => {
  const a = renderChildren(input());
  const b = renderChildren(input());
  assert.deepEqual(a.objects, b.objects);
  const c = renderChildren(input({ config: { limit: { max_peers: 7 } } }));
  const hash = (r: typeof a) =>
    (r.objects.find((o) => o.kind === 'Deployment') as V1Deployment).spec!.template.metadata!.annotations![
      CONFIG_HASH_ANNOTATION
    ];
  assert.notEqual(hash(a), hash(c));
});

test('an invalid spec renders no object at all', () => {
  const rendered = renderChildren(input({ config: { http: { webrtc_nack_buffer_log2: 99 } } }));
  assert.equal(rendered.objects.length, 0);
  assert.equal(rendered.errors[0]?.path, 'spec.config.http.webrtc_nack_buffer_log2');
});

test('generated Secrets keep their values; a user keys Secret is used instead of generating one', () => {
  const first = renderChildren({ ...input(), accessKeys: {}, supervisorSecret: {} });
  const secret = first.objects.find((o) => o.metadata?.name === 'voice-supervisor') as V1Secret;
  assert.deepEqual(Object.keys(secret.data!), ['masterKey'], 'no shared password any more');
  const masterKey = Buffer.from(secret.data!.masterKey!, 'base64').toString();
  assert.equal(Buffer.from(masterKey, 'base64').length, 32);
  const again = renderChildren({ ...input(), supervisorSecret: { masterKey } });
  const kept = again.objects.find((o) => o.metadata?.name === 'voice-supervisor') as V1Secret;
  assert.equal(kept.data!.masterKey, secret.data!.masterKey, 'kept');
  const user = renderChildren({ ...input({ authorization: { accessKeysSecretRef: { name: 'mine' } } }) });
  assert.ok(!user.objects.some((o) => o.metadata?.name === 'voice-access-key'));
  const bad = renderChildren({
    ...input({ authorization: { accessKeysSecretRef: { name: 'mine' } } }),
    accessKeys: { k: 'nope' },
  });
  assert.equal(bad.errors[0]?.path, 'spec.authorization.accessKeysSecretRef');
});

test('LoadBalancer mode: one Service per pod selecting it; no host ports', () => {
  const rendered = renderChildren(input({ networking: { mode: 'LoadBalancer' } }));
  const services = rendered.objects.filter((o) => o.kind === 'Service') as {
    spec: { type?: string; selector: Record<string, string> };
    metadata: { name: string };
  }[];
  assert.deepEqual(
    services.map((s) => [s.metadata.name, s.spec.type]),
    [
      ['voice', undefined],
      ['voice-a', 'LoadBalancer'],
    ],
  );
  assert.equal(services[1]!.spec.selector['odin-grid.io/pod'], 'voice-a');
  const deployment = rendered.objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  assert.ok(deployment.spec!.template.spec!.containers[0]!.ports!.every((p) => p.hostPort === undefined));
});

test("a pod's endpoint comes from its Pod/Service objects, as its GRID_PUBLIC_ADDRESS resolves", () => {
  const pod = (status: { hostIP?: string; podIP?: string }) => ({
    metadata: { name: 'voice-abc', namespace: 'games', uid: 'u' },
    spec: { nodeName: 'node-1', containers: [] },
    status,
  });
  const config = parseRenderedConfig(renderChildren(input()).configToml);
  const hostIp = podPublicAddress(odinServer(), pod({ hostIP: '10.0.0.5', podIP: '10.1.0.9' }), []);
  assert.equal(hostIp, '10.0.0.5');
  assert.equal(podEndpoint(config, hostIp!), '10.0.0.5:4433', 'the http binding port');
  assert.equal(podPublicAddress(odinServer(), pod({}), []), undefined, 'not known before the pod is placed');
  const podIp = odinServer({ networking: { publicAddress: { source: 'PodIP' } } });
  assert.equal(podPublicAddress(podIp, pod({ hostIP: '10.0.0.5', podIP: '10.1.0.9' }), []), '10.1.0.9');
  const template = odinServer({
    networking: { publicAddress: { source: 'Template', template: '$(POD_NAME).$(NODE_NAME).example.com' } },
  });
  assert.equal(podPublicAddress(template, pod({}), []), 'voice-abc.node-1.example.com');
  const lb = odinServer({ networking: { mode: 'LoadBalancer' } });
  const service = (ip?: string) => ({
    metadata: { name: 'voice-abc', labels: { 'odin-grid.io/pod': 'voice-abc' } },
    status: { loadBalancer: { ingress: ip ? [{ ip }] : [] } },
  });
  assert.equal(podPublicAddress(lb, pod({ hostIP: '10.0.0.5' }), [service()]), undefined, 'ingress pending');
  assert.equal(podPublicAddress(lb, pod({ hostIP: '10.0.0.5' }), [service('203.0.113.7')]), '203.0.113.7');
  assert.equal(podEndpoint(config, 'not an address!'), undefined);
});

test('telemetry credentials come from a Secret; inline ones in the address are refused', () => {
  const inline = renderChildren(
    input({ config: { telemetry: { address: 'https://u:p@telemetry.example.com/in' } } }),
  );
  assert.equal(inline.objects.length, 0);
  assert.equal(inline.errors[0]?.path, 'spec.config.telemetry.address');
  assert.match(
    inline.errors[0]!.message,
    /must not carry credentials.*spec\.telemetry\.credentialsSecretRef/,
  );
  const rendered = renderChildren(
    input({
      config: { telemetry: { address: 'https://telemetry.example.com/in?x=1' } },
      telemetry: { credentialsSecretRef: { name: 'telemetry-creds' } },
    }),
  );
  assert.deepEqual(rendered.errors, []);
  const configMap = rendered.objects.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
  assert.match(configMap.data['config.toml']!, /address = "https:\/\/telemetry\.example\.com\/in\?x=1"/);
  const deployment = rendered.objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const env = Object.fromEntries(
    deployment.spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e.value ?? e.valueFrom]),
  );
  assert.equal(
    env.GRID_TELEMETRY_ADDRESS,
    'https://$(ODIN_TELEMETRY_USERNAME):$(ODIN_TELEMETRY_PASSWORD)@telemetry.example.com/in?x=1',
  );
  assert.deepEqual(env.ODIN_TELEMETRY_PASSWORD, {
    secretKeyRef: { name: 'telemetry-creds', key: 'password' },
  });
  // The variable parses as the server will read it once the kubelet expanded it.
  const expanded = String(env.GRID_TELEMETRY_ADDRESS)
    .replace('$(ODIN_TELEMETRY_USERNAME)', 'u')
    .replace('$(ODIN_TELEMETRY_PASSWORD)', 'p');
  const config = parseConfigText(configMap.data['config.toml']!, {
    env: { ...sampleGridEnv, GRID_TELEMETRY_ADDRESS: expanded },
    checkFiles: false,
  });
  assert.equal(config.telemetry?.address, 'https://u:p@telemetry.example.com/in?x=1');
  const orphan = renderChildren(input({ telemetry: { credentialsSecretRef: { name: 'telemetry-creds' } } }));
  assert.equal(orphan.errors[0]?.path, 'spec.telemetry.credentialsSecretRef');
});
