/**
 * What the reconcile steps read: the informer caches, seen through the two calls they use
 * (`get`, `list`). Informers of @kubernetes/client-node satisfy `Store`; unit tests pass small
 * in-memory stores (test/operator/fakeCaches.ts).
 */
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import type { OdinServer } from '../api/types.ts';

export type Store<T> = {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
};

export type Caches = {
  servers: Store<OdinServer>;
  deployments: Store<V1Deployment>;
  configMaps: Store<V1ConfigMap>;
  services: Store<V1Service>;
  pdbs: Store<V1PodDisruptionBudget>;
  secrets: Store<V1Secret>;
  pods: Store<V1Pod>;
};

/** The cached copy of a child the operator applies, by kind and name. */
export function cachedChild(caches: Caches, object: KubernetesObject): KubernetesObject | undefined {
  const name = object.metadata?.name ?? '';
  const namespace = object.metadata?.namespace;
  switch (object.kind) {
    case 'Deployment':
      return caches.deployments.get(name, namespace);
    case 'ConfigMap':
      return caches.configMaps.get(name, namespace);
    case 'Service':
      return caches.services.get(name, namespace);
    case 'PodDisruptionBudget':
      return caches.pdbs.get(name, namespace);
    case 'Secret':
      return caches.secrets.get(name, namespace);
    default:
      return undefined;
  }
}
