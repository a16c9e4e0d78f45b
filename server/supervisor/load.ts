/**
 * `load` (0..1) as reported in `sfu.Report` and exported as `grid_load`. The gateway sends a new
 * room to a random enabled server weighted by `1 - load` (ODIN-PROTOCOL.md section 5), so load
 * is "how full is this server", by whichever resource runs out first:
 *
 *   load = clamp01(max(clients / max_clients, peers / max_peers, rooms / max_rooms, cpu))
 *
 * A limit that is not configured drops its term. `cpu` is the main thread's event loop
 * utilisation (metricsSystem.ts). A draining server reports 1: it takes no new rooms.
 */
import { clamp01 } from '../observability/metricsSystem.ts';

export type LoadInputs = {
  clients: number;
  peers: number;
  rooms: number;
  maxClients?: number | undefined;
  maxPeers?: number | undefined;
  maxRooms?: number | undefined;
  /** 0..1 */
  cpu: number;
  draining: boolean;
};

export function computeLoad(inputs: LoadInputs): number {
  if (inputs.draining) return 1;
  const ratio = (used: number, max: number | undefined) =>
    max === undefined ? 0 : max === 0 ? 1 : used / max;
  return clamp01(
    Math.max(
      ratio(inputs.clients, inputs.maxClients),
      ratio(inputs.peers, inputs.maxPeers),
      ratio(inputs.rooms, inputs.maxRooms),
      inputs.cpu,
    ),
  );
}
