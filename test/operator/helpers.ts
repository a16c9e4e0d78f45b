import { applyDefaults } from '../../operator/api/defaults.ts';
import type { DefaultedOdinServer, OdinServer } from '../../operator/api/types.ts';

export function odinServer(spec: Record<string, unknown> = {}, name = 'voice'): DefaultedOdinServer {
  const server: OdinServer = {
    apiVersion: 'odin-grid.io/v1alpha1',
    kind: 'OdinServer',
    metadata: { name, namespace: 'games', uid: 'uid-1', generation: 3 },
    spec,
  };
  return applyDefaults(server);
}
