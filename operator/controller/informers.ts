/**
 * The operator's caches, scoped as tightly as the API allows:
 *
 * - every kind is watched cluster-wide, or (`--watch-namespaces`) in each listed namespace only,
 *   so the operator can run with Roles in those namespaces instead of a ClusterRole;
 * - children (Deployments, ConfigMaps, Services, PDBs) and the operator's own Secrets
 *   (`<name>-access-key`, `<name>-supervisor`) by the `managed-by` label; grid pods by their label;
 * - Secrets the user owns (access keys, licence, TLS, telemetry credentials named in a spec) one
 *   watch per name (field selector `metadata.name`), started when an OdinServer names them and
 *   stopped when none does: no other Secret of the cluster is ever listed or held in memory.
 *
 * client-node's ListWatch does the list+watch+cache; this only fans it out and merges.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  ListWatch,
  PolicyV1Api,
  type V1ConfigMap,
  type V1Deployment,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1Secret,
  type V1Service,
  Watch,
} from '@kubernetes/client-node';
import { FIELD_MANAGER, GROUP, type OdinServer, PLURAL, VERSION } from '../api/types.ts';
import { SERVER_LABEL } from '../render/labels.ts';

export const MANAGED = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

type Verb = 'add' | 'update' | 'delete';
type ListFn<T extends KubernetesObject> = () => Promise<{
  items: T[];
  metadata?: { resourceVersion?: string };
}>;

/** The part of an informer the controller uses, over one or several ListWatches. */
export class Cache<T extends KubernetesObject> {
  readonly #parts: ListWatch<T>[];
  constructor(parts: ListWatch<T>[]) {
    this.#parts = parts;
  }
  get(name: string, namespace?: string): T | undefined {
    for (const p of this.#parts) {
      const hit = p.get(name, namespace);
      if (hit) return hit;
    }
    return undefined;
  }
  list(namespace?: string): T[] {
    return this.#parts.flatMap((p) => [...p.list(namespace)]);
  }
  on(verb: Verb, cb: (o: T) => void): void {
    for (const p of this.#parts) p.on(verb, cb);
  }
  onError(cb: (error: unknown, restart: () => Promise<void>) => void): void {
    for (const p of this.#parts) p.on('error', (error) => cb(error, () => p.start()));
  }
  async start(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.start()));
  }
  async stop(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.stop().catch(() => {})));
  }
}

function listWatch<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: ListFn<T>,
  selectors: { label?: string; field?: string } = {},
): ListWatch<T> {
  return new ListWatch<T>(path, new Watch(kc), list as never, false, selectors.label, selectors.field);
}

export type Caches = {
  servers: Cache<OdinServer>;
  deployments: Cache<V1Deployment>;
  configMaps: Cache<V1ConfigMap>;
  services: Cache<V1Service>;
  pdbs: Cache<V1PodDisruptionBudget>;
  /** The operator's own Secrets (labelled). */
  ownSecrets: Cache<V1Secret>;
  pods: Cache<V1Pod>;
};

/** One cache per kind: cluster-wide when `namespaces` is undefined, else one ListWatch per namespace. */
export function makeCaches(kc: KubeConfig, namespaces: readonly string[] | undefined): Caches {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const scopes: (string | undefined)[] = namespaces ? [...namespaces] : [undefined];
  const fan = <T extends KubernetesObject>(make: (ns: string | undefined) => ListWatch<T>): Cache<T> =>
    new Cache(scopes.map(make));
  const at = (group: string, resource: string, ns: string | undefined) =>
    `${group}${ns ? `/namespaces/${ns}` : ''}/${resource}`;
  const managed = { label: MANAGED };
  return {
    servers: fan((ns) =>
      listWatch<OdinServer>(
        kc,
        at(`/apis/${GROUP}/${VERSION}`, PLURAL, ns),
        () =>
          (ns
            ? custom.listNamespacedCustomObject({
                group: GROUP,
                version: VERSION,
                namespace: ns,
                plural: PLURAL,
              })
            : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as never,
      ),
    ),
    deployments: fan((ns) =>
      listWatch(
        kc,
        at('/apis/apps/v1', 'deployments', ns),
        () =>
          ns
            ? apps.listNamespacedDeployment({ namespace: ns, labelSelector: MANAGED })
            : apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED }),
        managed,
      ),
    ),
    configMaps: fan((ns) =>
      listWatch(
        kc,
        at('/api/v1', 'configmaps', ns),
        () =>
          ns
            ? core.listNamespacedConfigMap({ namespace: ns, labelSelector: MANAGED })
            : core.listConfigMapForAllNamespaces({ labelSelector: MANAGED }),
        managed,
      ),
    ),
    services: fan((ns) =>
      listWatch(
        kc,
        at('/api/v1', 'services', ns),
        () =>
          ns
            ? core.listNamespacedService({ namespace: ns, labelSelector: MANAGED })
            : core.listServiceForAllNamespaces({ labelSelector: MANAGED }),
        managed,
      ),
    ),
    pdbs: fan((ns) =>
      listWatch(
        kc,
        at('/apis/policy/v1', 'poddisruptionbudgets', ns),
        () =>
          ns
            ? policy.listNamespacedPodDisruptionBudget({ namespace: ns, labelSelector: MANAGED })
            : policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: MANAGED }),
        managed,
      ),
    ),
    ownSecrets: fan((ns) =>
      listWatch(
        kc,
        at('/api/v1', 'secrets', ns),
        () =>
          ns
            ? core.listNamespacedSecret({ namespace: ns, labelSelector: MANAGED })
            : core.listSecretForAllNamespaces({ labelSelector: MANAGED }),
        managed,
      ),
    ),
    pods: fan((ns) =>
      listWatch(
        kc,
        at('/api/v1', 'pods', ns),
        () =>
          ns
            ? core.listNamespacedPod({ namespace: ns, labelSelector: SERVER_LABEL })
            : core.listPodForAllNamespaces({ labelSelector: SERVER_LABEL }),
        { label: SERVER_LABEL },
      ),
    ),
  };
}

/**
 * Secrets named by OdinServers, one watch each (field selector on the name), reference-counted
 * by the OdinServers that name them.
 */
export class SecretRefs {
  readonly #kc: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #onChange: (secret: V1Secret) => void;
  readonly #onError: (error: unknown) => void;
  readonly #watches = new Map<string, { watch: ListWatch<V1Secret>; synced: Promise<void> }>();
  readonly #byOwner = new Map<string, Set<string>>();

  constructor(kc: KubeConfig, onChange: (secret: V1Secret) => void, onError: (error: unknown) => void) {
    this.#kc = kc;
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#onChange = onChange;
    this.#onError = onError;
  }

  /** Watches exactly `names` (in `namespace`) for `owner`; resolves when each has been listed. */
  async use(owner: string, namespace: string, names: readonly (string | undefined)[]): Promise<void> {
    const keys = new Set(names.filter((n): n is string => !!n).map((n) => `${namespace}/${n}`));
    this.#byOwner.set(owner, keys);
    for (const key of keys) if (!this.#watches.has(key)) this.#start(key);
    await this.#release();
    await Promise.all([...keys].map((k) => this.#watches.get(k)?.synced));
  }

  /** The OdinServer is gone: its Secrets are no longer watched unless another names them. */
  async forget(owner: string): Promise<void> {
    this.#byOwner.delete(owner);
    await this.#release();
  }

  get(namespace: string, name: string): V1Secret | undefined {
    return this.#watches.get(`${namespace}/${name}`)?.watch.get(name, namespace);
  }

  /** Names watched now (for tests and diagnostics). */
  get watched(): string[] {
    return [...this.#watches.keys()].sort();
  }

  async stop(): Promise<void> {
    this.#byOwner.clear();
    await this.#release();
  }

  #start(key: string): void {
    const [namespace = '', name = ''] = key.split('/');
    const field = `metadata.name=${name}`;
    const watch = listWatch<V1Secret>(
      this.#kc,
      `/api/v1/namespaces/${namespace}/secrets`,
      () => this.#core.listNamespacedSecret({ namespace, fieldSelector: field }),
      { field },
    );
    for (const verb of ['add', 'update', 'delete'] as const) watch.on(verb, this.#onChange);
    watch.on('error', (error) => {
      this.#onError(error);
      setTimeout(() => {
        if (this.#watches.get(key)?.watch === watch) void watch.start().catch(() => {});
      }, 2000).unref();
    });
    // A failed first list (e.g. RBAC) must not block reconciles forever: they see "no Secret".
    const synced = watch.start().catch((error: unknown) => this.#onError(error));
    this.#watches.set(key, { watch, synced });
  }

  async #release(): Promise<void> {
    const used = new Set([...this.#byOwner.values()].flatMap((s) => [...s]));
    const unused = [...this.#watches.entries()].filter(([key]) => !used.has(key));
    for (const [key] of unused) this.#watches.delete(key);
    await Promise.all(unused.map(([, w]) => w.watch.stop().catch(() => {})));
  }
}
