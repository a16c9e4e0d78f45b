/**
 * Host ports of `PortRange` pods (docs/operator.md, "Several servers per node"), as Agones
 * allocates them for its GameServers: each pod that is on a node gets its own ports from the
 * OdinServer's range, unique on that node across every OdinServer the operator sees. Pure: the
 * world in (cached pods, the reservations not yet visible in the cache), assignments out.
 *
 * The record of an assignment is the pod's annotation (render/hostPorts.ts). A port is in use on
 * a node while a pod there holds it: a terminating pod still drains on its ports, so its ports
 * come free only when the pod object is gone (or has finished). Pods of other modes count with
 * the host ports their containers declare, so a range that overlaps them never hands those out.
 *
 * Reservations bridge the gap between writing an annotation and seeing it in the cache: two
 * OdinServers reconciled one after the other must not both get a port the cache does not show
 * as used yet. Callers keep them (PortLedger) and drop them once the cache has caught up.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { DefaultedOdinServer } from '../api/types.ts';
import {
  type Listener,
  listenersOf,
  type PortAssignment,
  podPorts,
  portNumbers,
  withSharedPorts,
} from '../render/hostPorts.ts';
import type { ExtraCondition } from './status.ts';

export type PortRange = { min: number; max: number };

/** Ports given to a pod whose annotation the cache may not show yet (pod uid → assignment). */
export type Reservation = { node: string; ports: PortAssignment };

/** A node whose free ports do not suffice for the pods of this OdinServer waiting there. */
export type PortShortage = {
  node: string;
  /** Pods of this OdinServer on the node still without ports. */
  waiting: string[];
  /** Ports each of them needs. */
  perPod: number;
  /** Free ports of the range on the node. */
  free: number;
  /** Ports of the range in use there (by any OdinServer's pods). */
  used: number;
};

export type PortPlan = {
  /** Pods to annotate with their new ports. */
  assign: { pod: string; uid: string; node: string; ports: PortAssignment }[];
  shortages: PortShortage[];
};

/** The lowest free ports of the range for these listeners, or undefined when too few are free. */
export function allocate(
  range: PortRange,
  used: ReadonlySet<number>,
  listeners: readonly Listener[],
): PortAssignment | undefined {
  const ports: PortAssignment = {};
  let next = range.min;
  for (const listener of listeners) {
    while (next <= range.max && used.has(next)) next++;
    if (next > range.max) return undefined;
    ports[listener] = next++;
  }
  return ports;
}

/** Whether a pod still holds its ports: not finished (a terminating pod drains on them). */
function holdsPorts(pod: V1Pod): boolean {
  return pod.status?.phase !== 'Failed' && pod.status?.phase !== 'Succeeded' && !!pod.spec?.nodeName;
}

/** Host ports the pod's containers declare (HostPort and HostNetwork mode pods). */
function declaredHostPorts(pod: V1Pod): number[] {
  const out: number[] = [];
  for (const c of pod.spec?.containers ?? [])
    for (const p of c.ports ?? []) {
      const port = p.hostPort ?? (pod.spec?.hostNetwork ? p.containerPort : undefined);
      if (port) out.push(port);
    }
  return out;
}

/** Ports in use per node: every pod's assignment or declared host ports, and the reservations. */
export function usedPorts(
  pods: readonly V1Pod[],
  reservations: ReadonlyMap<string, Reservation>,
): Map<string, Set<number>> {
  const byNode = new Map<string, Set<number>>();
  const add = (node: string, ports: number[]) => {
    const set = byNode.get(node) ?? new Set<number>();
    byNode.set(node, set);
    for (const p of ports) set.add(p);
  };
  for (const pod of pods) {
    if (!holdsPorts(pod)) continue;
    const node = pod.spec!.nodeName!;
    const assigned = podPorts(pod);
    add(node, [...(assigned ? portNumbers(assigned) : []), ...declaredHostPorts(pod)]);
  }
  for (const r of reservations.values()) add(r.node, portNumbers(r.ports));
  return byNode;
}

/**
 * Ports for this OdinServer's pods that are on a node and have none: from `allPods` (every grid
 * pod the operator sees, all OdinServers) and the reservations, lowest free ports first, oldest
 * pod first. Pods already reserved are assigned their reservation again (the write may have
 * failed). Pods that find too few free ports are reported per node, and wait.
 */
export function planPorts(params: {
  server: DefaultedOdinServer;
  pods: readonly V1Pod[];
  allPods: readonly V1Pod[];
  reservations: ReadonlyMap<string, Reservation>;
}): PortPlan {
  const { server, reservations } = params;
  if (server.spec.networking.mode !== 'PortRange') return { assign: [], shortages: [] };
  const range = server.spec.networking.portRange;
  const listeners = listenersOf(server);
  const used = usedPorts(params.allPods, reservations);
  const assign: PortPlan['assign'] = [];
  const waiting = new Map<string, string[]>();
  const created = (p: V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
  const byAge = [...params.pods].sort(
    (a, b) => created(a) - created(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
  for (const pod of byAge) {
    const uid = pod.metadata?.uid;
    const name = pod.metadata?.name;
    const node = pod.spec?.nodeName;
    if (!uid || !name || !node || pod.metadata?.deletionTimestamp || !holdsPorts(pod) || podPorts(pod))
      continue;
    const reserved = reservations.get(uid);
    if (reserved) {
      assign.push({ pod: name, uid, node, ports: reserved.ports });
      continue;
    }
    const nodeUsed = used.get(node) ?? new Set<number>();
    used.set(node, nodeUsed);
    const own = allocate(range, nodeUsed, listeners);
    const ports = own && withSharedPorts(server, own);
    if (!ports) {
      waiting.set(node, [...(waiting.get(node) ?? []), name]);
      continue;
    }
    for (const p of portNumbers(ports)) nodeUsed.add(p);
    assign.push({ pod: name, uid, node, ports });
  }
  const shortages = [...waiting].map(([node, pods]) => {
    const inRange = [...(used.get(node) ?? [])].filter((p) => p >= range.min && p <= range.max).length;
    return {
      node,
      waiting: pods,
      perPod: listeners.length,
      free: range.max - range.min + 1 - inRange,
      used: inRange,
    };
  });
  return { assign, shortages: shortages.sort((a, b) => a.node.localeCompare(b.node)) };
}

/** The condition `PortsAssigned`: whether every pod on a node got its ports; the numbers when not. */
export function portsCondition(range: PortRange, shortages: readonly PortShortage[]): ExtraCondition {
  if (shortages.length > 0)
    return {
      type: 'PortsAssigned',
      ok: false,
      reason: 'PortRangeExhausted',
      message: describeShortages(range, shortages).slice(0, 1000),
      degrades: true,
    };
  return {
    type: 'PortsAssigned',
    ok: true,
    reason: 'Assigned',
    message: `every pod on a node has its own ports from portRange ${range.min}-${range.max}`,
  };
}

/** The condition message of the shortages, naming the numbers. */
export function describeShortages(range: PortRange, shortages: readonly PortShortage[]): string {
  const size = range.max - range.min + 1;
  return shortages
    .map(
      (s) =>
        `node ${s.node}: ${s.waiting.length} pod(s) (${s.waiting.slice(0, 3).join(', ')}${s.waiting.length > 3 ? ', ...' : ''}) ` +
        `wait for ${s.perPod} ports each, but portRange ${range.min}-${range.max} (${size} ports) has ` +
        `${s.free} free there (${s.used} in use)`,
    )
    .join('; ');
}

/**
 * The reservations of the operator process (shared by all OdinServers' reconciles): kept until
 * the cache shows the pod with its annotation, or the pod is gone.
 */
export class PortLedger {
  readonly reservations = new Map<string, Reservation>();

  /** Drops what the cache has caught up with: annotated pods, and pods no longer there. */
  prune(allPods: readonly V1Pod[]): void {
    const byUid = new Map(allPods.map((p) => [p.metadata?.uid, p]));
    for (const uid of [...this.reservations.keys()]) {
      const pod = byUid.get(uid);
      if (!pod || podPorts(pod) || !holdsPorts(pod)) this.reservations.delete(uid);
    }
  }

  reserve(plan: PortPlan): void {
    for (const a of plan.assign) this.reservations.set(a.uid, { node: a.node, ports: a.ports });
  }
}
