/**
 * Kubernetes Events on an OdinServer for notable transitions (scaling, draining, invalid
 * config): `core/v1` Events, as `kubectl describe` shows them. Recording never fails a
 * reconcile.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type DefaultedOdinServer, FIELD_MANAGER, KIND } from '../api/types.ts';

export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #instance: string;

  constructor(kubeConfig: KubeConfig, instance: string) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#instance = instance;
  }

  async record(
    server: DefaultedOdinServer,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date();
    const { name, namespace, uid } = server.metadata;
    try {
      await this.#core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, ...(uid ? { uid } : {}) },
          type,
          reason,
          message,
          source: { component: FIELD_MANAGER },
          reportingComponent: FIELD_MANAGER,
          reportingInstance: this.#instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch {
      // Events are best effort.
    }
  }
}
