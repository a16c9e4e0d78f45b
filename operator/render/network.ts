/**
 * Services and the PodDisruptionBudget.
 *
 * - `<name>`: a headless Service over every grid pod (metrics port): DNS and Prometheus discovery.
 *   PortRange mode: without ports (every pod's are its own), for DNS only.
 * - LoadBalancer mode: one Service of type LoadBalancer per pod (`<pod>`), selecting the pod by
 *   the `odin-grid.io/pod` label the operator puts on it, with `externalTrafficPolicy: Local`
 *   (UDP keeps the client's address). The built-in supervisor tells each pod its ingress address.
 *   The webrtc port is on it twice, UDP and TCP (ICE-TCP), unless `networking.webrtcTcp` is false.
 * - The PDB allows one voluntary disruption at a time (a node drain moves one server at a time;
 *   each drains its rooms on SIGTERM).
 */
import type { V1PodDisruptionBudget, V1Service } from '@kubernetes/client-node';
import type { DefaultedOdinServer } from '../api/types.ts';
import { childNames, commonLabels, ownerReference, POD_LABEL, selectorLabels } from './labels.ts';
import { WEBRTC_TCP_PORT_NAME } from './workload.ts';

export function renderHeadlessService(server: DefaultedOdinServer): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: childNames(server.metadata.name).service,
      namespace: server.metadata.namespace,
      labels: commonLabels(server),
      ownerReferences: [ownerReference(server)],
    },
    spec: {
      clusterIP: 'None',
      selector: selectorLabels(server),
      // PortRange: each pod's metrics port is its own (hostPorts.ts); the Service names pods only.
      ...(server.spec.networking.mode === 'PortRange'
        ? {}
        : {
            ports: [
              {
                name: 'metrics',
                port: server.spec.networking.ports.metrics,
                targetPort: 'metrics',
                protocol: 'TCP',
              },
            ],
          }),
      publishNotReadyAddresses: true,
    },
  };
}

export function renderPodServices(server: DefaultedOdinServer, pods: readonly string[]): V1Service[] {
  if (server.spec.networking.mode !== 'LoadBalancer') return [];
  const { ports, webrtcTcp, loadBalancer } = server.spec.networking;
  const hasQuic = server.spec.config.quic !== undefined;
  return pods.map((pod) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: pod,
      namespace: server.metadata.namespace,
      labels: { ...commonLabels(server), [POD_LABEL]: pod },
      ...(loadBalancer?.annotations ? { annotations: { ...loadBalancer.annotations } } : {}),
      ownerReferences: [ownerReference(server)],
    },
    spec: {
      type: 'LoadBalancer',
      ...(loadBalancer?.loadBalancerClass ? { loadBalancerClass: loadBalancer.loadBalancerClass } : {}),
      externalTrafficPolicy: 'Local',
      selector: { ...selectorLabels(server), [POD_LABEL]: pod },
      ports: [
        { name: 'http', port: ports.http, targetPort: 'http', protocol: 'TCP' },
        { name: 'webrtc', port: ports.webrtc, targetPort: 'webrtc', protocol: 'UDP' },
        // Both protocols on one Service (one ingress address for the ICE candidates): a
        // mixed-protocol LoadBalancer, which the cloud's load balancer must support.
        ...(webrtcTcp
          ? [
              {
                name: WEBRTC_TCP_PORT_NAME,
                port: ports.webrtc,
                targetPort: WEBRTC_TCP_PORT_NAME,
                protocol: 'TCP',
              },
            ]
          : []),
        ...(hasQuic ? [{ name: 'quic', port: ports.quic, targetPort: 'quic', protocol: 'UDP' }] : []),
      ],
    },
  }));
}

export function renderPdb(server: DefaultedOdinServer): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: childNames(server.metadata.name).pdb,
      namespace: server.metadata.namespace,
      labels: commonLabels(server),
      ownerReferences: [ownerReference(server)],
    },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(server) } },
  };
}
