/**
 * How many servers an OdinServer needs, from the servers' own reports (sfu.Report), and the
 * stabilisation window that keeps it from flapping (the HPA's rule: scale up at once, scale down
 * only to the highest recommendation of the last `scaleDownDelaySeconds`).
 *
 * - Load: keep the mean load of the serving (not draining) servers at or below the target:
 *   `ceil(sum(load) / target)`, as the HPA computes `ceil(current × metric / target)`.
 * - FreePeers (Agones' buffer): keep `freePeers` peer slots free over the fleet:
 *   `ceil((peers + freePeers) / max_peers)`.
 * Then clamp to [minReplicas, maxReplicas]. With no reports at all there is nothing to go by:
 * keep the current count (clamped).
 */
import type { OdinServerAutoscaling } from '../api/types.ts';

export type ServerSample = { load: number; peers: number; draining: boolean };

export function recommendReplicas(params: {
  autoscaling: OdinServerAutoscaling;
  current: number;
  /** Servers that have reported recently. */
  servers: readonly ServerSample[];
  /** `[limit] max_peers` of one server (FreePeers). */
  maxPeers?: number;
}): number {
  const { autoscaling: a, current, servers } = params;
  const clamp = (n: number) => Math.min(a.maxReplicas, Math.max(a.minReplicas, n));
  const serving = servers.filter((s) => !s.draining);
  if (servers.length === 0) return clamp(current);
  let wanted: number;
  if (a.target.type === 'FreePeers') {
    const slots = params.maxPeers ?? 0;
    if (slots <= 0) return clamp(current);
    const peers = servers.reduce((sum, s) => sum + s.peers, 0);
    wanted = Math.ceil((peers + (a.target.freePeers ?? 0)) / slots);
  } else {
    const target = (a.target.loadPercent ?? 70) / 100;
    const load = serving.reduce((sum, s) => sum + Math.min(1, Math.max(0, s.load)), 0);
    // A tiny tolerance: 0.6 / 0.6 must not become 2 by floating point.
    wanted = Math.ceil(load / target - 1e-9);
    // Draining servers still hold peers: their load moves nowhere until they empty.
    wanted = Math.max(wanted, serving.length === 0 ? 1 : 0);
  }
  return clamp(wanted);
}

export type Recommendation = { at: number; replicas: number };

/**
 * The stabilised replica count: up at once, down only to the highest recommendation within the
 * window. An empty history (a fresh operator) is seeded with the current count, so a restart
 * never scales down before a whole window has passed. Returns the history to keep.
 */
export function stabilize(params: {
  history: readonly Recommendation[];
  now: number;
  windowMs: number;
  recommendation: number;
  current: number;
}): { replicas: number; history: Recommendation[] } {
  const { now, windowMs, recommendation, current } = params;
  const seeded = params.history.length === 0 ? [{ at: now, replicas: current }] : params.history;
  const history = [...seeded.filter((r) => now - r.at < windowMs), { at: now, replicas: recommendation }];
  if (recommendation >= current) return { replicas: recommendation, history };
  const highest = Math.max(...history.map((r) => r.replicas));
  return { replicas: Math.min(current, highest), history };
}
