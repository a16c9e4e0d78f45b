/**
 * Scale-down without cutting a conversation (Agones' graceful scale-down, adapted to a
 * Deployment): when a fleet has more pods than `spec.replicas`,
 *
 * 1. the least-loaded servers are marked draining (pod annotation `odin-grid.io/draining`):
 *    the built-in supervisor places no new room on them, their rooms keep working;
 * 2. a draining server is *removable* once it reports no rooms and no peers, or it never became
 *    ready (so it cannot have any), or it has not reported for `silentRemovableMs` (a server that
 *    cannot reach its supervisor that long drains and exits on its own: grid gives up after
 *    300 s; and a pod that never reports must not block a scale-down forever);
 * 3. a removable pod gets the lowest `controller.kubernetes.io/pod-deletion-cost`, and the
 *    Deployment's replicas drop by the number of removable pods, so the ReplicaSet controller
 *    deletes exactly those pods. Nothing else lowers the replicas.
 *
 * When `spec.replicas` rises again, draining servers are taken back first (they are warm).
 * Without reports (an external supervisor), the operator cannot see rooms: draining pods are
 * removable at once and the server's own SIGTERM drain ([shutdown] grace_period) protects rooms.
 */
export type PodView = {
  name: string;
  ready: boolean;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Marked draining by an earlier reconcile. */
  draining: boolean;
  /** Its deletion cost annotation is already the removable one. */
  markedRemovable: boolean;
  /** The last report, when the server reports. */
  report?: { load: number; peers: number; rooms: number; clients: number };
  /** How long it has not reported (undefined: it reports). */
  silentForMs?: number;
};

/** Default of `silentRemovableMs`: grid's own limit for an unreachable supervisor. */
export const SILENT_REMOVABLE_MS = 300_000;

export type ScaleDownPlan = {
  /** Pods to mark draining (the others lose the mark). */
  draining: string[];
  /** Draining pods that are empty: they get the lowest deletion cost. */
  removable: string[];
  /** The Deployment's replicas. */
  deploymentReplicas: number;
};

/** Deletion cost of a removable pod: lower than anything else (the API allows any int32). */
export const REMOVABLE_DELETION_COST = '-2147483647';

export function planScaleDown(params: {
  pods: readonly PodView[];
  desired: number;
  /** The Deployment's replicas now (undefined: no Deployment yet). Surge pods of a rollout are not excess. */
  current: number | undefined;
  /** Whether reports exist for this fleet (built-in supervisor). */
  reportsAvailable: boolean;
  /** A draining Ready server silent this long is removable (default SILENT_REMOVABLE_MS). */
  silentRemovableMs?: number;
}): ScaleDownPlan {
  const { desired, reportsAvailable } = params;
  const current = params.current ?? desired;
  // Pods the ReplicaSet is removing right now (replicas already lowered for them) keep their
  // marks until they are gone: dropping the deletion cost now could make it pick another pod.
  const going = params.pods
    .filter((p) => p.markedRemovable)
    .slice(0, Math.max(0, params.pods.length - current));
  const goingNames = going.map((p) => p.name);
  const pods = params.pods.filter((p) => !goingNames.includes(p.name));
  const excess = Math.min(current, pods.length) - desired;
  if (excess <= 0)
    return {
      draining: [...goingNames].sort(),
      removable: [...goingNames].sort(),
      deploymentReplicas: desired,
    };
  const peersOf = (p: PodView) => p.report?.peers ?? 0;
  const ranked = [...pods].sort(
    (a, b) =>
      Number(b.draining) - Number(a.draining) ||
      Number(a.ready) - Number(b.ready) ||
      peersOf(a) - peersOf(b) ||
      (a.report?.load ?? 0) - (b.report?.load ?? 0) ||
      b.createdAt - a.createdAt ||
      a.name.localeCompare(b.name),
  );
  const draining = ranked.slice(0, excess);
  const removable = draining.filter((p) => {
    if (!reportsAvailable) return true;
    if (p.report) return p.report.peers === 0 && p.report.rooms === 0;
    return !p.ready || (p.silentForMs ?? 0) >= (params.silentRemovableMs ?? SILENT_REMOVABLE_MS);
  });
  // Lower the replicas only for pods whose deletion cost is already in place (seen in the
  // informer cache), so the ReplicaSet controller cannot pick another pod.
  const ready = removable.filter((p) => p.markedRemovable);
  return {
    draining: [...goingNames, ...draining.map((p) => p.name)].sort(),
    removable: [...goingNames, ...removable.map((p) => p.name)].sort(),
    deploymentReplicas: Math.max(desired, current - ready.length),
  };
}
