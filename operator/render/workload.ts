/**
 * The grid Deployment. Why a Deployment and not a StatefulSet: a scale-down must remove the
 * server that has drained, not the highest ordinal. The operator marks the drained pod with the
 * lowest `controller.kubernetes.io/pod-deletion-cost` and only then lowers the Deployment's
 * replicas, so the ReplicaSet controller removes exactly that pod (autoscale/scaleDown.ts).
 * Per-pod identity (supervisor reports, per-pod Services) comes from the pod name through the
 * downward API.
 *
 * Per-pod values reach the server through its `GRID_*` overrides (docs/configuration.md):
 * `GRID_PUBLIC_ADDRESS` from the downward API, `GRID_SUPERVISOR_URL` naming the pod, and, for the
 * built-in supervisor, `GRID_SUPERVISOR_TOKEN_FILE`: the pod's own projected ServiceAccount token
 * (audience SUPERVISOR_TOKEN_AUDIENCE, bound to the pod, rotated by the kubelet), its identity
 * towards the supervisor. No secret is in the spec or the ConfigMap; the pod gets no API token.
 */
import type { V1Deployment, V1EnvVar, V1Probe, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { DefaultedOdinServer } from '../api/types.ts';
import { CONFIG_DIR, CONFIG_FILE, LICENSE_DIR, TLS_DIR } from './config.ts';
import { PORTS_DIR, PORTS_FILE } from './hostPorts.ts';
import {
  CONFIG_HASH_ANNOTATION,
  childNames,
  commonLabels,
  ownerReference,
  PORTS_ANNOTATION,
  SUPERVISOR_TOKEN_AUDIENCE,
  selectorLabels,
} from './labels.ts';
import { VERIFIED_LICENSE_KEY } from './secrets.ts';

/** Seconds a pod gets beyond the server's own drain grace period to close its clients. */
export const TERMINATION_MARGIN_SECONDS = 15;
/** Where the supervisor token is mounted; grid reads it before every call. */
export const SUPERVISOR_TOKEN_DIR = '/var/run/secrets/odin-grid.io/supervisor';
/** Lifetime of the token; the kubelet renews it at 80 %. */
export const SUPERVISOR_TOKEN_SECONDS = 3600;
/**
 * The container port (and LoadBalancer Service port) of ICE-TCP: `ports.webrtc` on TCP. A port
 * name is unique in a container, so the UDP one keeps `webrtc` and this one gets its own.
 */
export const WEBRTC_TCP_PORT_NAME = 'webrtc-tcp';

export type WorkloadInput = {
  server: DefaultedOdinServer;
  configHash: string;
  /** Trusted licence issuer public keys (base64url `x`); rendered only for a fleet with a licence. */
  licenseIssuers?: readonly string[];
  /** Replicas of the Deployment: spec.replicas, or more while drained pods wait to go. */
  replicas: number;
  /** Base URL of the built-in supervisor as pods reach it, e.g. `http://odin-operator.odin-system:7000`. */
  supervisorUrl: string;
};

const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({
  name,
  valueFrom: { fieldRef: { fieldPath } },
});

/** `http://user:$(PASSWORD)@host/path`: the URL with `$(VAR)` credentials, expanded by the kubelet. */
function withCredentials(url: string, user: string, passwordVar: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${user}:$(${passwordVar})@${parsed.host}${parsed.pathname.replace(/\/$/, '')}`;
}

export function supervisorPath(server: DefaultedOdinServer): string {
  return `/internal/${server.metadata.namespace}/${server.metadata.name}`;
}

function env(input: WorkloadInput): V1EnvVar[] {
  const { server } = input;
  const { spec } = server;
  const vars: V1EnvVar[] = [
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('NODE_NAME', 'spec.nodeName'),
    fieldEnv('HOST_IP', 'status.hostIP'),
    fieldEnv('POD_IP', 'status.podIP'),
  ];
  const { publicAddress, mode } = spec.networking;
  const address =
    mode === 'LoadBalancer'
      ? '$(POD_IP)' // the built-in supervisor answers with the Service's ingress (supervisor/gridConfigAnswer.ts)
      : publicAddress.source === 'PodIP'
        ? '$(POD_IP)'
        : publicAddress.source === 'Template'
          ? (publicAddress.template ?? '$(HOST_IP)')
          : '$(HOST_IP)';
  vars.push({ name: 'GRID_PUBLIC_ADDRESS', value: address });
  // PortRange: the pod's own ports, assigned once it is on a node (hostPorts.ts); grid waits for them.
  if (mode === 'PortRange') vars.push({ name: 'GRID_PORTS_FILE', value: PORTS_FILE });
  // Public keys, not secrets: a plain value. Only with a licence, so a new key in the operator's
  // list does not roll fleets that have none.
  if (spec.license && (input.licenseIssuers?.length ?? 0) > 0)
    vars.push({ name: 'GRID_LICENSE_ISSUERS', value: input.licenseIssuers!.join(',') });
  if (spec.supervisor.mode === 'BuiltIn') {
    const url = `${new URL(input.supervisorUrl).origin}${supervisorPath(server)}/$(POD_NAME)`;
    vars.push(
      { name: 'GRID_SUPERVISOR_URL', value: url },
      { name: 'GRID_SUPERVISOR_TOKEN_FILE', value: `${SUPERVISOR_TOKEN_DIR}/token` },
    );
  } else {
    const external = spec.supervisor.external!;
    const ref = external.credentialsSecretRef;
    if (ref) {
      vars.push(
        {
          name: 'ODIN_SUPERVISOR_USERNAME',
          valueFrom: { secretKeyRef: { name: ref.name, key: 'username' } },
        },
        {
          name: 'ODIN_SUPERVISOR_PASSWORD',
          valueFrom: { secretKeyRef: { name: ref.name, key: 'password' } },
        },
      );
      vars.push({
        name: 'GRID_SUPERVISOR_URL',
        value: withCredentials(external.url, '$(ODIN_SUPERVISOR_USERNAME)', 'ODIN_SUPERVISOR_PASSWORD'),
      });
    } else vars.push({ name: 'GRID_SUPERVISOR_URL', value: external.url });
  }
  // Telemetry credentials: from a Secret into the address, expanded by the kubelet.
  const telemetry = spec.config.telemetry as { address?: string } | undefined;
  const telemetryRef = spec.telemetry?.credentialsSecretRef;
  if (telemetryRef && telemetry?.address) {
    vars.push(
      {
        name: 'ODIN_TELEMETRY_USERNAME',
        valueFrom: { secretKeyRef: { name: telemetryRef.name, key: 'username' } },
      },
      {
        name: 'ODIN_TELEMETRY_PASSWORD',
        valueFrom: { secretKeyRef: { name: telemetryRef.name, key: 'password' } },
      },
      {
        name: 'GRID_TELEMETRY_ADDRESS',
        value: withUserinfo(telemetry.address, '$(ODIN_TELEMETRY_USERNAME):$(ODIN_TELEMETRY_PASSWORD)'),
      },
    );
  }
  return vars;
}

/** The URL with `userinfo@` before its host, path and query kept exactly. */
function withUserinfo(url: string, userinfo: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${userinfo}@${parsed.host}${parsed.pathname}${parsed.search}`;
}

/**
 * An HTTP probe on the named metrics port; in PortRange mode, whose metrics port differs per pod,
 * `grid-probe` (server/probe.ts) reads it from the pod's ports file. It starts a process, so it
 * gets more time than the kubelet's 1 s default.
 */
function probe(portRange: boolean, path: '/readyz' | '/healthz'): V1Probe {
  return portRange
    ? { exec: { command: ['grid-probe', path] }, timeoutSeconds: 5 }
    : { httpGet: { path, port: 'metrics' } };
}

export function renderDeployment(input: WorkloadInput): V1Deployment {
  const { server } = input;
  const { spec } = server;
  const names = childNames(server.metadata.name);
  const { ports, mode } = spec.networking;
  const hostPort = mode === 'HostPort';
  const portRange = mode === 'PortRange';
  const hasQuic = spec.config.quic !== undefined;
  const volumes: V1Volume[] = [{ name: 'config', configMap: { name: names.configMap } }];
  const mounts: V1VolumeMount[] = [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }];
  const args = ['--config', CONFIG_FILE];
  if (spec.license) {
    // The operator's verified copy, not the user's Secret: a refused edit never reaches a pod.
    volumes.push({
      name: 'license',
      secret: {
        secretName: names.verifiedLicenseSecret,
        items: [{ key: VERIFIED_LICENSE_KEY, path: 'license.toml' }],
      },
    });
    mounts.push({ name: 'license', mountPath: LICENSE_DIR, readOnly: true });
    args.push('--license', `${LICENSE_DIR}/license.toml`);
  }
  if (spec.tls) {
    volumes.push({ name: 'tls', secret: { secretName: spec.tls.secretName } });
    mounts.push({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
  }
  if (portRange) {
    // The kubelet writes the annotation into the file, empty until the operator has set it, and
    // refreshes it when it changes (a downward-API volume; an env var would be fixed at start).
    volumes.push({
      name: 'ports',
      downwardAPI: {
        items: [{ path: 'ports', fieldRef: { fieldPath: `metadata.annotations['${PORTS_ANNOTATION}']` } }],
      },
    });
    mounts.push({ name: 'ports', mountPath: PORTS_DIR, readOnly: true });
  }
  if (spec.supervisor.mode === 'BuiltIn') {
    volumes.push({
      name: 'supervisor-token',
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: SUPERVISOR_TOKEN_AUDIENCE,
              expirationSeconds: SUPERVISOR_TOKEN_SECONDS,
              path: 'token',
            },
          },
        ],
      },
    });
    mounts.push({ name: 'supervisor-token', mountPath: SUPERVISOR_TOKEN_DIR, readOnly: true });
  }
  const port = (name: string, containerPort: number, protocol: 'TCP' | 'UDP', exposed: boolean) => ({
    name,
    containerPort,
    protocol,
    ...(hostPort && exposed ? { hostPort: containerPort } : {}),
  });
  // PortRange declares no ports: on the node network a declared port is a host port to the
  // scheduler, the same for every pod of the template, which is what the mode avoids.
  const containerPorts = portRange
    ? []
    : [
        port('http', ports.http, 'TCP', true),
        port('webrtc', ports.webrtc, 'UDP', true),
        // ICE-TCP on the same number (web clients behind networks that block UDP; docs/networking.md).
        ...(spec.networking.webrtcTcp ? [port(WEBRTC_TCP_PORT_NAME, ports.webrtc, 'TCP', true)] : []),
        ...(hasQuic ? [port('quic', ports.quic, 'UDP', true)] : []),
        port('metrics', ports.metrics, 'TCP', false),
      ];
  const labels = { ...(spec.pod.labels ?? {}), ...commonLabels(server) };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: names.deployment,
      namespace: server.metadata.namespace,
      labels: commonLabels(server),
      ownerReferences: [ownerReference(server)],
    },
    spec: {
      replicas: input.replicas,
      selector: { matchLabels: selectorLabels(server) },
      // New pods first, old ones drain on SIGTERM ([shutdown] grace_period) once replaced.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels,
          annotations: { ...(spec.pod.annotations ?? {}), [CONFIG_HASH_ANNOTATION]: input.configHash },
        },
        spec: {
          ...(mode === 'HostNetwork' || portRange
            ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }
            : {}),
          terminationGracePeriodSeconds: spec.drainGracePeriodSeconds + TERMINATION_MARGIN_SECONDS,
          // grid never calls the Kubernetes API: no API token (the supervisor token is projected).
          automountServiceAccountToken: false,
          ...(spec.pod.nodeSelector ? { nodeSelector: spec.pod.nodeSelector } : {}),
          ...(spec.pod.tolerations ? { tolerations: spec.pod.tolerations } : {}),
          ...(spec.pod.affinity ? { affinity: spec.pod.affinity } : {}),
          containers: [
            {
              name: 'grid',
              image: spec.image,
              ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
              args,
              env: env(input),
              ...(containerPorts.length > 0 ? { ports: containerPorts } : {}),
              volumeMounts: mounts,
              ...(spec.pod.resources ? { resources: spec.pod.resources } : {}),
              readinessProbe: { ...probe(portRange, '/readyz'), periodSeconds: 5, failureThreshold: 2 },
              livenessProbe: { ...probe(portRange, '/healthz'), periodSeconds: 10, failureThreshold: 3 },
            },
          ],
          volumes,
        },
      },
    },
  };
}
