/**
 * Where a grid pod is reached, computed from the objects the operator rendered and the cluster
 * filled in (the Pod's host/pod IP, a LoadBalancer Service's ingress), exactly as the pod's own
 * `GRID_PUBLIC_ADDRESS` resolves (workload.ts) and its listeners announce it (publicAddressFor).
 * The built-in supervisor derives each server's key from this endpoint and sends clients there:
 * it never takes a server's word for its address (a pod could otherwise claim another's).
 */
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import {
  type GridConfig,
  parseConfigText,
  publicAddressFor,
  requirePublicAddress,
} from '../../server/config/index.ts';
import type { DefaultedOdinServer } from '../api/types.ts';
import { sampleGridEnv } from './config.ts';
import { POD_LABEL } from './labels.ts';

/** The downward-API variables a pod's `GRID_PUBLIC_ADDRESS` may name, from the Pod object. */
function downwardValues(pod: V1Pod): Record<string, string | undefined> {
  return {
    POD_NAME: pod.metadata?.name,
    POD_NAMESPACE: pod.metadata?.namespace,
    NODE_NAME: pod.spec?.nodeName,
    HOST_IP: pod.status?.hostIP,
    POD_IP: pod.status?.podIP,
  };
}

/** `$(VAR)` expanded as the kubelet does; undefined while a value is not known yet. */
function expand(template: string, values: Record<string, string | undefined>): string | undefined {
  let missing = false;
  const out = template.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, name: string) => {
    const v = values[name];
    if (!v) missing = true;
    return v ?? '';
  });
  return missing ? undefined : out;
}

/** The pod's public address (host, maybe a port), or undefined while it is not known. */
export function podPublicAddress(
  server: DefaultedOdinServer,
  pod: V1Pod,
  services: readonly V1Service[],
): string | undefined {
  const { mode, publicAddress } = server.spec.networking;
  if (mode === 'LoadBalancer') {
    const name = pod.metadata?.name;
    const service = services.find(
      (s) => s.metadata?.name === name && s.metadata?.labels?.[POD_LABEL] === name,
    );
    const ingress = service?.status?.loadBalancer?.ingress?.[0];
    return ingress?.ip || ingress?.hostname || undefined;
  }
  const values = downwardValues(pod);
  if (publicAddress.source === 'PodIP') return values.POD_IP || undefined;
  if (publicAddress.source === 'Template') return expand(publicAddress.template ?? '$(HOST_IP)', values);
  return values.HOST_IP || undefined;
}

/** The rendered config.toml, parsed once per reconcile, to compute endpoints from. */
export function parseRenderedConfig(toml: string): GridConfig {
  return parseConfigText(toml, { source: 'config.toml', env: sampleGridEnv, checkFiles: false });
}

/** The address the supervisor knows a server by: `[http]`'s public address, else `[quic]`'s, else the root. */
export function endpointOf(config: GridConfig): string {
  if (config.http !== undefined) return publicAddressFor(config, 'http');
  if (config.quic !== undefined) return publicAddressFor(config, 'quic');
  return requirePublicAddress(config);
}

/** The endpoint of a pod with this address; undefined when the address does not parse. */
export function podEndpoint(config: GridConfig, address: string): string | undefined {
  try {
    return endpointOf({ ...config, public_address: address });
  } catch {
    return undefined;
  }
}
