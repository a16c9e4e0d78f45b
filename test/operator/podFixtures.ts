/** Grid pods as the informer cache holds them, for unit tests of the reconcile steps. */
import type { V1Pod } from '@kubernetes/client-node';

export function gridPod(
  name: string,
  options: {
    server?: string;
    ready?: boolean;
    phase?: string;
    annotations?: Record<string, string>;
    createdAt?: string;
    terminating?: boolean;
    uid?: string;
    hostIP?: string;
  } = {},
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'games',
      ...(options.uid ? { uid: options.uid } : {}),
      labels: { 'odin-grid.io/server': options.server ?? 'voice' },
      annotations: options.annotations ?? {},
      creationTimestamp: new Date(options.createdAt ?? '2026-01-01T00:00:00Z'),
      ...(options.terminating ? { deletionTimestamp: new Date('2026-01-01T01:00:00Z') } : {}),
    },
    spec: { containers: [{ name: 'grid' }] },
    status: {
      phase: options.phase ?? 'Running',
      ...(options.hostIP ? { hostIP: options.hostIP } : {}),
      conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
    },
  };
}
