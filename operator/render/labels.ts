/** Names and labels of an OdinServer's children: deterministic, so reconcile never guesses. */
import type { V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, type DefaultedOdinServer, FIELD_MANAGER, GROUP, KIND } from '../api/types.ts';

export const SERVER_LABEL = `${GROUP}/server`;
/** Put on each grid pod by the operator: the per-pod LoadBalancer Service selects it. */
export const POD_LABEL = `${GROUP}/pod`;
export const CONFIG_HASH_ANNOTATION = `${GROUP}/config-hash`;
/** Hash of what the operator last applied to a child: equal hash, no write. */
export const APPLIED_HASH_ANNOTATION = `${GROUP}/applied-hash`;
/** On a pod the operator drains for a scale-down: no new rooms go there. */
export const DRAINING_ANNOTATION = `${GROUP}/draining`;
/**
 * On a pod of an old config held through a rollout (ISO time it was taken out of its
 * ReplicaSet): it keeps its conversations, gets no new rooms, and goes once empty.
 */
export const HELD_ANNOTATION = `${GROUP}/held-since`;
/**
 * Audience of the projected ServiceAccount token each grid pod sends to the built-in supervisor:
 * a token for this audience is useless to any other service, and the supervisor accepts no other.
 */
export const SUPERVISOR_TOKEN_AUDIENCE = 'odin-grid.io/supervisor';
/** `PortRange` mode: the host ports the operator assigned the pod, as `GRID_*_PORT` lines (hostPorts.ts). */
export const PORTS_ANNOTATION = `${GROUP}/ports`;
export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

export function selectorLabels(server: DefaultedOdinServer): Record<string, string> {
  return { [SERVER_LABEL]: server.metadata.name };
}

export function selectorString(server: DefaultedOdinServer): string {
  return `${SERVER_LABEL}=${server.metadata.name}`;
}

export function commonLabels(server: DefaultedOdinServer): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'odin-grid',
    'app.kubernetes.io/instance': server.metadata.name,
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
    ...selectorLabels(server),
  };
}

export function ownerReference(server: DefaultedOdinServer): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: server.metadata.name,
    uid: server.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export const childNames = (name: string) => ({
  configMap: `${name}-config`,
  deployment: name,
  service: name,
  pdb: name,
  accessKeySecret: `${name}-access-key`,
  supervisorSecret: `${name}-supervisor`,
  /** The last licence the operator verified, which the pods mount (secrets.ts renderVerifiedLicenseSecret). */
  verifiedLicenseSecret: `${name}-verified-license`,
});

/** The Secrets the operator writes for an OdinServer: a spec may not name one as its own. */
export function generatedSecretNames(name: string): string[] {
  const names = childNames(name);
  return [names.accessKeySecret, names.supervisorSecret, names.verifiedLicenseSecret];
}
