/**
 * The OdinServer CustomResourceDefinition, built here and written to
 * crds/odinservers.odin-grid.io.yaml by `node operator/api/crd.ts --write` (a unit test fails
 * when the file is stale). Structural schema with defaults; CEL rules for the cross-field checks
 * the schema cannot express; status and scale subresources; printer columns.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { configOpenApiSchema, type OpenApiSchema } from './configSchema.ts';
import { GROUP, KIND, PLURAL, SHORT_NAME, SINGULAR, VERSION } from './types.ts';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const DEFAULT_IMAGE = 'ghcr.io/odin-grid/grid:0.1.0';
/** Port numbers one server needs (http, shared with quic; webrtc; metrics): the smallest portRange. */
export const PORT_RANGE_MIN_SIZE = 3;
export const crdPath = join(import.meta.dirname, '..', '..', 'crds', `${CRD_NAME}.yaml`);

const str = (description: string, extra: OpenApiSchema = {}): OpenApiSchema => ({
  type: 'string',
  description,
  ...extra,
});
const int = (description: string, extra: OpenApiSchema = {}): OpenApiSchema => ({
  type: 'integer',
  description,
  ...extra,
});
const port = (description: string, dflt: number): OpenApiSchema =>
  int(description, { minimum: 1, maximum: 65535, default: dflt });
const stringMap = (description: string): OpenApiSchema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});
const secretName = (description: string): OpenApiSchema => ({
  type: 'object',
  description,
  required: ['name'],
  properties: {
    name: str("Name of a Secret in the OdinServer's namespace.", { minLength: 1, maxLength: 253 }),
  },
});
const anyObject = (description: string): OpenApiSchema => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});

function specSchema(): OpenApiSchema {
  return {
    type: 'object',
    default: {},
    'x-kubernetes-validations': [
      {
        // Guarded with has(): the API server also checks rules against `default: {}`, where no
        // key exists yet (an absent mode is its default: HostPort, BuiltIn).
        rule:
          "!has(self.networking) || !has(self.networking.mode) || self.networking.mode != 'LoadBalancer' || " +
          "!has(self.supervisor) || !has(self.supervisor.mode) || self.supervisor.mode == 'BuiltIn'",
        message: 'networking.mode LoadBalancer needs the built-in supervisor (it tells each pod its address)',
        fieldPath: '.networking.mode',
      },
      {
        // webrtc_enforce_tcp offers web clients TCP candidates only: with the TCP port closed
        // they would have no candidate they can reach.
        rule:
          '!has(self.networking) || !has(self.networking.webrtcTcp) || self.networking.webrtcTcp || ' +
          '!has(self.config) || !has(self.config.http) || !has(self.config.http.webrtc_enforce_tcp) || ' +
          '!self.config.http.webrtc_enforce_tcp',
        message:
          'config.http.webrtc_enforce_tcp offers web clients only TCP candidates: it needs networking.webrtcTcp',
        fieldPath: '.networking.webrtcTcp',
      },
      {
        rule:
          "!has(self.autoscaling) || !self.autoscaling.enabled || self.autoscaling.target.type != 'FreePeers' || " +
          '(has(self.config.limit) && has(self.config.limit.max_peers) && self.config.limit.max_peers > 0)',
        message:
          'autoscaling.target.type FreePeers needs config.limit.max_peers (the peer slots of one server)',
        fieldPath: '.autoscaling.target.type',
      },
    ],
    properties: {
      replicas: int('Number of grid servers. Written by `kubectl scale`, an HPA/KEDA, or spec.autoscaling.', {
        minimum: 0,
        maximum: 1000,
        default: 1,
      }),
      image: str('The grid container image.', { default: DEFAULT_IMAGE, minLength: 1 }),
      imagePullPolicy: str('Image pull policy.', { enum: ['Always', 'IfNotPresent', 'Never'] }),
      config: { ...configOpenApiSchema(), default: {} },
      authorization: {
        type: 'object',
        default: {},
        description: 'Where the ODIN access keys come from (never the spec).',
        properties: {
          accessKeysSecretRef: secretName(
            'Secret whose every data value is an ODIN access key; tokens signed with any of them are accepted. ' +
              'Absent: the operator generates one into the Secret `<name>-access-key` (key `accessKey`).',
          ),
        },
      },
      license: {
        type: 'object',
        description:
          'Optional licence: a Secret key holding license.toml. The operator verifies it and the pods mount its verified copy <name>-verified-license.',
        required: ['secretRef'],
        properties: {
          secretRef: {
            type: 'object',
            required: ['name'],
            properties: {
              name: str('Secret name.', { minLength: 1 }),
              key: str('Key in the Secret.', { default: 'license.toml' }),
            },
          },
        },
      },
      tls: {
        type: 'object',
        description:
          'A kubernetes.io/tls Secret mounted at /etc/odin/tls; the operator points [http] and [quic] ' +
          'certificate_file/privatekey_file at it unless spec.config sets them.',
        required: ['secretName'],
        properties: { secretName: str('Secret name.', { minLength: 1 }) },
      },
      supervisor: {
        type: 'object',
        default: {},
        description: 'Who supervises the servers (sfu.GridConfig, sfu.Report, client Connect).',
        'x-kubernetes-validations': [
          {
            rule: "!has(self.mode) || self.mode != 'External' || has(self.external)",
            message: 'mode External needs external.url',
          },
        ],
        properties: {
          mode: str('BuiltIn: the operator is the gateway. External: another gateway.', {
            enum: ['BuiltIn', 'External'],
            default: 'BuiltIn',
          }),
          external: {
            type: 'object',
            required: ['url'],
            properties: {
              url: str('JSON-RPC URL of the gateway, without credentials.', {
                pattern: '^https?://[^@/]+(/.*)?$',
              }),
              credentialsSecretRef: secretName('Secret with `username` and `password` (HTTP Basic).'),
            },
          },
        },
      },
      telemetry: {
        type: 'object',
        description:
          'Credentials of the telemetry endpoint in spec.config.telemetry.address, which must not carry ' +
          'any itself (the ConfigMap is not secret).',
        properties: {
          credentialsSecretRef: secretName(
            'Secret with `username` and `password`, sent as HTTP Basic auth to spec.config.telemetry.address ' +
              '(values must be URL-safe or percent-encoded; read at pod start).',
          ),
        },
      },
      networking: {
        type: 'object',
        default: {},
        description: 'How UDP and TCP reach each pod, and how its public address is found.',
        'x-kubernetes-validations': [
          {
            rule:
              '!has(self.publicAddress) || !has(self.publicAddress.source) || ' +
              "self.publicAddress.source != 'Template' || has(self.publicAddress.template)",
            message: 'publicAddress.source Template needs publicAddress.template',
            fieldPath: '.publicAddress.template',
          },
          {
            rule: `!has(self.portRange) || self.portRange.max - self.portRange.min + 1 >= ${PORT_RANGE_MIN_SIZE}`,
            message: `portRange must hold at least ${PORT_RANGE_MIN_SIZE} ports (one server's; max - min + 1)`,
            fieldPath: '.portRange',
          },
        ],
        properties: {
          mode: str(
            'HostPort: container ports mapped to the same host ports (one server per node). ' +
              "HostNetwork: the pod uses the node's network. LoadBalancer: one Service of type LoadBalancer per pod. " +
              "PortRange: the pod uses the node's network on ports the operator assigns it from portRange, " +
              'unique on its node across all OdinServers (several servers per node; ports are ignored).',
            { enum: ['HostPort', 'HostNetwork', 'LoadBalancer', 'PortRange'], default: 'HostPort' },
          ),
          portRange: {
            type: 'object',
            default: {},
            description:
              'PortRange mode: host ports assigned to each pod, 3 per server: http (TCP; [quic] shares ' +
              'its number on UDP), webrtc (UDP and TCP), metrics. Keep it clear of the NodePort range ' +
              "(30000-32767) and the nodes' ephemeral ports (Linux: 32768-60999), and of anything else on " +
              'the node network.',
            properties: {
              min: int('First port of the range.', { minimum: 1024, maximum: 65535, default: 7000 }),
              max: int('Last port of the range (inclusive).', {
                minimum: 1024,
                maximum: 65535,
                default: 7999,
              }),
            },
          },
          ports: {
            type: 'object',
            default: {},
            properties: {
              http: port('TCP port of [http] (HTTPS/WebSocket).', 4433),
              webrtc: port(
                'Port of [http] webrtc_binding: UDP, and TCP for ICE-TCP (web clients behind networks that block UDP) ' +
                  'unless webrtcTcp is false.',
                8844,
              ),
              quic: port('UDP port of [quic] (when configured).', 4433),
              metrics: port('TCP port of [metrics] (health, readiness, Prometheus).', 9000),
            },
          },
          webrtcTcp: {
            type: 'boolean',
            default: true,
            description:
              'Expose ports.webrtc over TCP as well as UDP, in every mode (container and host ports, the ' +
              "LoadBalancer Service): web clients whose network blocks UDP reach the server's ICE-TCP " +
              'candidates there (docs/networking.md). false: UDP only, e.g. for a cloud load balancer that ' +
              'refuses Services with both protocols. PortRange pods bind both either way (node network).',
          },
          loadBalancer: {
            type: 'object',
            description:
              "LoadBalancer mode: settings of each pod's Service for the cloud's load-balancer controller. " +
              'With webrtcTcp the Service has TCP and UDP ports (a mixed-protocol LoadBalancer), which some ' +
              'controllers provision only with a class or annotations (docs/networking.md).',
            properties: {
              annotations: stringMap('Annotations of the per-pod Services.'),
              loadBalancerClass: str(
                'spec.loadBalancerClass of the per-pod Services (immutable on a Service: set it before the ' +
                  'Services exist).',
                { minLength: 1, maxLength: 253 },
              ),
            },
          },
          publicAddress: {
            type: 'object',
            default: {},
            properties: {
              source: str(
                "HostIP: the node's IP (downward API status.hostIP). PodIP: the pod's IP. Template: " +
                  'publicAddress.template with $(POD_NAME), $(NODE_NAME), $(HOST_IP), $(POD_IP). ' +
                  "LoadBalancer mode always uses the pod's Service ingress.",
                { enum: ['HostIP', 'PodIP', 'Template'], default: 'HostIP' },
              ),
              template: str('A host name or IP, e.g. `$(POD_NAME).voice.example.com`.', { minLength: 1 }),
            },
          },
        },
      },
      autoscaling: {
        type: 'object',
        description:
          "Scale on the servers' reports. The operator then owns spec.replicas: do not also point an HPA at it.",
        'x-kubernetes-validations': [
          { rule: 'self.minReplicas <= self.maxReplicas', message: 'minReplicas must be <= maxReplicas' },
          {
            rule: "self.target.type != 'Load' || has(self.target.loadPercent)",
            message: 'target.type Load needs target.loadPercent',
          },
          {
            rule: "self.target.type != 'FreePeers' || has(self.target.freePeers)",
            message: 'target.type FreePeers needs target.freePeers',
          },
        ],
        required: ['maxReplicas'],
        properties: {
          enabled: { type: 'boolean', default: true, description: 'Turn the autoscaler on.' },
          minReplicas: int('Fewest servers.', { minimum: 0, default: 1 }),
          maxReplicas: int('Most servers.', { minimum: 1, maximum: 1000 }),
          target: {
            type: 'object',
            default: {},
            properties: {
              type: str(
                'Load: keep the mean load below loadPercent. FreePeers: keep freePeers peer slots free.',
                {
                  enum: ['Load', 'FreePeers'],
                  default: 'Load',
                },
              ),
              loadPercent: int('Target mean load, percent.', { minimum: 1, maximum: 100, default: 70 }),
              freePeers: int('Free peer slots to keep (buffer).', { minimum: 1 }),
            },
          },
          scaleDownDelaySeconds: int('Stabilisation window before a scale-down.', {
            minimum: 0,
            default: 300,
          }),
        },
      },
      drainGracePeriodSeconds: int(
        'On SIGTERM (rollouts, evictions) a server keeps its rooms this long ([shutdown] grace_period); ' +
          'the pod gets 15 s more. Scale-downs the operator starts wait for the server to empty instead.',
        { minimum: 0, maximum: 86400, default: 60 },
      ),
      rolloutConversationTimeoutSeconds: int(
        'On a config or image rollout, a server that still has rooms is not replaced while they last: it ' +
          'gets no new rooms (they go to servers with the new config), keeps its own, and is removed once ' +
          'empty or after this long (then SIGTERM and drainGracePeriodSeconds). 0: old servers get SIGTERM ' +
          'as the Deployment rolls.',
        { minimum: 0, maximum: 604800, default: 14400 },
      ),
      pod: {
        type: 'object',
        default: {},
        description: 'Scheduling and resources of the grid pods.',
        properties: {
          nodeSelector: stringMap('Node selector.'),
          tolerations: { type: 'array', items: anyObject('A toleration (core/v1 Toleration).') },
          affinity: anyObject('Affinity (core/v1 Affinity).'),
          resources: anyObject('Resources of the grid container (core/v1 ResourceRequirements).'),
          annotations: stringMap('Extra pod annotations.'),
          labels: stringMap('Extra pod labels.'),
        },
      },
    },
  };
}

const condition: OpenApiSchema = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
  },
};

function statusSchema(): OpenApiSchema {
  const count = (d: string): OpenApiSchema => ({ type: 'integer', description: d });
  return {
    type: 'object',
    properties: {
      observedGeneration: count('The generation the status describes.'),
      conditions: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        items: condition,
      },
      replicas: count('Pods of the fleet (not terminating).'),
      readyReplicas: count('Ready pods.'),
      selector: { type: 'string', description: 'Label selector of the pods (scale subresource).' },
      desiredReplicas: count("The autoscaler's last recommendation."),
      clients: count('Clients over all servers.'),
      rooms: count('Rooms over all servers.'),
      peers: count('Peers over all servers.'),
      load: { type: 'number', description: 'Mean load of the reporting servers, 0..1.' },
      draining: count('Servers draining for a scale-down.'),
      servers: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['pod'],
        items: {
          type: 'object',
          required: ['pod'],
          properties: {
            pod: { type: 'string' },
            address: { type: 'string' },
            ready: { type: 'boolean' },
            reporting: { type: 'boolean' },
            load: { type: 'number' },
            clients: { type: 'integer' },
            rooms: { type: 'integer' },
            peers: { type: 'integer' },
            draining: { type: 'boolean' },
          },
        },
      },
    },
  };
}

export function odinServerCrd(): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        plural: PLURAL,
        singular: SINGULAR,
        kind: KIND,
        listKind: `${KIND}List`,
        shortNames: [SHORT_NAME],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: [
            { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
            { name: 'Peers', type: 'integer', jsonPath: '.status.peers' },
            { name: 'Load', type: 'number', jsonPath: '.status.load' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A fleet of ODIN Grid voice servers (docs/operator.md).',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(),
                status: statusSchema(),
              },
            } as never,
          },
        },
      ],
    },
  };
}

export function crdYaml(): string {
  return (
    "# Generated by `node operator/api/crd.ts --write` from operator/api/crd.ts and the server's\n" +
    '# config schema (server/config/schema.ts). Do not edit by hand.\n' +
    stringify(odinServerCrd(), { lineWidth: 0 })
  );
}

if (process.argv[1] === import.meta.filename && process.argv.includes('--write')) {
  writeFileSync(crdPath, crdYaml());
  process.stdout.write(`wrote ${crdPath}\n`);
}
