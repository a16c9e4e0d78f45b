/**
 * The reconciler's writes against the API server: server-side apply of children and pod marks,
 * `/scale`, and `/status` (all with field manager `odin-operator`, force), pod merge patches and
 * deletes for servers held through a rollout (rollout.ts), each counted in
 * `odin_operator_writes_total` by kind.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  FIELD_MANAGER,
  GROUP,
  KIND,
  type OdinServerStatus,
  PLURAL,
  VERSION,
} from '../api/types.ts';
import type { OperatorMetrics } from './health.ts';
import type { ClusterWriter } from './reconciler.ts';

export class KubeClusterWriter implements ClusterWriter {
  readonly #objects: KubernetesObjectApi;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #metrics: Pick<OperatorMetrics, 'writes'>;

  constructor(kubeConfig: KubeConfig, metrics: Pick<OperatorMetrics, 'writes'>) {
    this.#objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.#custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#metrics = metrics;
  }

  async apply(object: KubernetesObject): Promise<void> {
    await this.#objects.patch(
      object,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    this.#metrics.writes.inc({ kind: object.kind ?? '' });
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    await this.#custom.patchNamespacedCustomObjectScale(
      { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { spec: { replicas } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#metrics.writes.inc({ kind: 'Scale' });
  }

  async writeStatus(namespace: string, name: string, status: OdinServerStatus): Promise<void> {
    await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    this.#metrics.writes.inc({ kind: 'OdinServerStatus' });
  }

  async patchPod(namespace: string, name: string, patch: object): Promise<void> {
    await this.#core.patchNamespacedPod(
      { namespace, name, body: patch, fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#metrics.writes.inc({ kind: 'Pod' });
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await this.#core.deleteNamespacedPod({ namespace, name });
    this.#metrics.writes.inc({ kind: 'PodDelete' });
  }
}
