/**
 * In-memory stand-ins for the controller's informer caches and its API writes, for unit tests
 * of the reconcile steps. The fake writer stores what it applies in the caches (as the API
 * server and a watch would), so a second reconcile sees the first one's writes.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { DefaultedOdinServer, OdinServer, OdinServerStatus } from '../../operator/api/types.ts';
import type { Caches, Store } from '../../operator/controller/caches.ts';
import type { ClusterWriter, EventSink } from '../../operator/controller/reconciler.ts';

export class FakeStore<T extends KubernetesObject> implements Store<T> {
  readonly items = new Map<string, T>();

  get(name: string, namespace?: string): T | undefined {
    return this.items.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    return [...this.items.values()].filter(
      (o) => namespace === undefined || o.metadata?.namespace === namespace,
    );
  }

  put(object: T): void {
    this.items.set(`${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`, object);
  }

  delete(name: string, namespace: string): void {
    this.items.delete(`${namespace}/${name}`);
  }
}

export type FakeCaches = {
  [K in keyof Caches]: Caches[K] extends Store<infer T extends KubernetesObject> ? FakeStore<T> : never;
};

export function fakeCaches(): FakeCaches {
  return {
    servers: new FakeStore(),
    deployments: new FakeStore(),
    configMaps: new FakeStore(),
    services: new FakeStore(),
    pdbs: new FakeStore(),
    secrets: new FakeStore(),
    pods: new FakeStore(),
  };
}

const storeOf = (caches: FakeCaches, kind: string | undefined): FakeStore<KubernetesObject> | undefined =>
  (
    ({
      Deployment: caches.deployments,
      ConfigMap: caches.configMaps,
      Service: caches.services,
      PodDisruptionBudget: caches.pdbs,
      Secret: caches.secrets,
      Pod: caches.pods,
    }) as Record<string, FakeStore<KubernetesObject>>
  )[kind ?? ''];

/** Records every write; applies children and statuses into the caches. */
export class FakeWriter implements ClusterWriter {
  readonly writes: string[] = [];
  readonly #caches: FakeCaches;
  /** Set to make the next write fail (an API error). */
  fail: Error | undefined;

  constructor(caches: FakeCaches) {
    this.#caches = caches;
  }

  async apply(object: KubernetesObject): Promise<void> {
    this.#check();
    this.writes.push(`${object.kind}/${object.metadata?.name}`);
    const store = storeOf(this.#caches, object.kind);
    const old = store?.get(object.metadata?.name ?? '', object.metadata?.namespace);
    if (object.kind === 'Pod') {
      // A partial apply of our marks: merge into the pod.
      if (!old) return;
      store!.put({
        ...old,
        metadata: {
          ...old.metadata,
          annotations: { ...old.metadata?.annotations, ...object.metadata?.annotations },
          labels: { ...old.metadata?.labels, ...object.metadata?.labels },
        },
      });
      return;
    }
    store?.put(structuredClone(object));
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    this.#check();
    this.writes.push(`Scale/${name}=${replicas}`);
    const server = this.#caches.servers.get(name, namespace)!;
    this.#caches.servers.put({ ...server, spec: { ...server.spec, replicas } });
  }

  async writeStatus(namespace: string, name: string, status: OdinServerStatus): Promise<void> {
    this.#check();
    this.writes.push(`OdinServerStatus/${name}`);
    const server = this.#caches.servers.get(name, namespace)!;
    this.#caches.servers.put({ ...server, status: structuredClone(status) });
  }

  async patchPod(namespace: string, name: string, patch: object): Promise<void> {
    this.#check();
    this.writes.push(`PodPatch/${name}`);
    const pod = this.#caches.pods.get(name, namespace);
    if (!pod) return;
    const p = patch as {
      metadata?: {
        labels?: Record<string, string | null>;
        annotations?: Record<string, string>;
        ownerReferences?: never[];
      };
    };
    const labels = { ...pod.metadata?.labels, ...p.metadata?.labels };
    for (const [k, v] of Object.entries(labels)) if (v === null) delete labels[k];
    this.#caches.pods.put({
      ...pod,
      metadata: {
        ...pod.metadata,
        labels: labels as Record<string, string>,
        annotations: { ...pod.metadata?.annotations, ...p.metadata?.annotations },
        ...(p.metadata?.ownerReferences ? { ownerReferences: p.metadata.ownerReferences } : {}),
      },
    });
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    this.#check();
    this.writes.push(`PodDelete/${name}`);
    this.#caches.pods.delete(name, namespace);
  }

  #check(): void {
    const error = this.fail;
    this.fail = undefined;
    if (error) throw error;
  }
}

export class FakeEvents implements EventSink {
  readonly events: { type: string; reason: string; message: string }[] = [];
  async record(_server: DefaultedOdinServer, type: string, reason: string, message: string): Promise<void> {
    this.events.push({ type, reason, message });
  }
}

/** A stored OdinServer in namespace `games` (as the API server would hold it). */
export function storedServer(spec: Record<string, unknown> = {}, name = 'voice'): OdinServer {
  return {
    apiVersion: 'odin-grid.io/v1alpha1',
    kind: 'OdinServer',
    metadata: { name, namespace: 'games', uid: 'uid-1', generation: 1 },
    spec,
  };
}
