/**
 * Step 5 of a reconcile, apply: what has to be written, decided purely from the rendered
 * children and the caches (the reconciler performs the writes). Children whose cached copy
 * carries the same applied hash and holds every field the operator sets are not sent; pods get their draining mark and deletion cost
 * only when they differ; the built-in supervisor's fleet gets the master key, access keys and
 * the members (pod uids, addresses, endpoints) it answers with.
 */
import type { KubernetesObject, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { DefaultedOdinServer } from '../api/types.ts';
import { REMOVABLE_DELETION_COST, type ScaleDownPlan } from '../autoscale/scaleDown.ts';
import { parseRenderedConfig, podEndpoint, podPublicAddress } from '../render/endpoint.ts';
import { podPorts, withPodPorts } from '../render/hostPorts.ts';
import type { Rendered } from '../render/index.ts';
import {
  APPLIED_HASH_ANNOTATION,
  childNames,
  DELETION_COST_ANNOTATION,
  DRAINING_ANNOTATION,
  POD_LABEL,
  SERVER_LABEL,
} from '../render/labels.ts';
import { secretValues } from '../render/secrets.ts';
import type { FleetUpdate, PodMember } from '../supervisor/fleet.ts';
import { type Caches, cachedChild } from './caches.ts';
import { firstDrift, ownedFields } from './drift.ts';

export type ChildWrite = {
  object: KubernetesObject;
  /** `new`: not in the cache; `changed`: the desired form changed; `drift`: edited by hand. */
  why: 'new' | 'changed' | 'drift';
  /** For drift: the first field that differs (drift.ts). */
  field?: string;
};

/**
 * Rendered children (with their applied hash) that must be applied: not cached, another applied
 * hash, or a field the operator sets that differs in the cached copy (drift.ts). A world that
 * matches gives none, so a restarted operator writes nothing.
 */
export function childrenToApply(objects: readonly KubernetesObject[], caches: Caches): ChildWrite[] {
  const writes: ChildWrite[] = [];
  for (const object of objects) {
    const cached = cachedChild(caches, object);
    if (!cached) {
      writes.push({ object, why: 'new' });
      continue;
    }
    const want = object.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
    if (cached.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] !== want) {
      writes.push({ object, why: 'changed' });
      continue;
    }
    const field = firstDrift(ownedFields(object), cached);
    if (field !== undefined) writes.push({ object, why: 'drift', field });
  }
  return writes;
}

export type PodMark = {
  /** The server-side apply body (our annotations and labels only). */
  patch: KubernetesObject;
  /** Events for the transitions this mark makes. */
  events: { reason: 'Draining' | 'Drained'; message: string }[];
};

/** Draining marks, deletion costs and (LoadBalancer mode) the per-pod label, for the pods that differ. */
export function podMarks(
  server: DefaultedOdinServer,
  pods: readonly V1Pod[],
  plan: ScaleDownPlan,
): PodMark[] {
  const lb = server.spec.networking.mode === 'LoadBalancer';
  const marks: PodMark[] = [];
  for (const pod of pods) {
    const name = pod.metadata!.name!;
    const annotations: Record<string, string> = {};
    if (plan.draining.includes(name)) annotations[DRAINING_ANNOTATION] = 'true';
    if (plan.removable.includes(name)) annotations[DELETION_COST_ANNOTATION] = REMOVABLE_DELETION_COST;
    const labels: Record<string, string> = lb ? { [POD_LABEL]: name } : {};
    const current = pod.metadata?.annotations ?? {};
    const same =
      (current[DRAINING_ANNOTATION] === 'true') === DRAINING_ANNOTATION in annotations &&
      (current[DELETION_COST_ANNOTATION] === REMOVABLE_DELETION_COST) ===
        DELETION_COST_ANNOTATION in annotations &&
      (pod.metadata?.labels?.[POD_LABEL] === name) === lb;
    if (same) continue;
    const events: PodMark['events'] = [];
    if (DRAINING_ANNOTATION in annotations && current[DRAINING_ANNOTATION] !== 'true')
      events.push({ reason: 'Draining', message: `server ${name} drains for a scale-down: no new rooms` });
    if (
      DELETION_COST_ANNOTATION in annotations &&
      current[DELETION_COST_ANNOTATION] !== REMOVABLE_DELETION_COST
    )
      events.push({ reason: 'Drained', message: `server ${name} is empty: removing it` });
    marks.push({
      patch: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: pod.metadata!.namespace!, annotations, labels },
      },
      events,
    });
  }
  return marks;
}

/**
 * Keys of the fleet for the built-in supervisor, and its members: every pod of the fleet that
 * may call it (terminating ones too: they drain and report), with the address and endpoint
 * computed from the Pod/Service objects (render/endpoint.ts), never from what a pod says.
 */
export function fleetCredentials(
  server: DefaultedOdinServer,
  rendered: Pick<Rendered, 'objects' | 'publicKeys' | 'configToml'>,
  caches: Caches,
): Pick<FleetUpdate, 'credentials' | 'members'> {
  const { name, namespace } = server.metadata;
  const names = childNames(name);
  const supervisorSecret = rendered.objects.find(
    (o) => o.kind === 'Secret' && o.metadata?.name === names.supervisorSecret,
  ) as V1Secret | undefined;
  const values = secretValues(supervisorSecret);
  const config = parseRenderedConfig(rendered.configToml);
  const services = caches.services.list(namespace);
  const members = new Map<string, PodMember>();
  for (const pod of caches.pods.list(namespace)) {
    const podName = pod.metadata?.name;
    const uid = pod.metadata?.uid;
    if (pod.metadata?.labels?.[SERVER_LABEL] !== name || !podName || !uid) continue;
    if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') continue;
    const address = podPublicAddress(server, pod, services);
    // PortRange: the pod listens on its own ports (render/hostPorts.ts); none yet, no endpoint yet.
    const ports = server.spec.networking.mode === 'PortRange' ? podPorts(pod) : undefined;
    const podConfig = ports ? withPodPorts(config, ports) : config;
    const endpoint =
      address && (ports || server.spec.networking.mode !== 'PortRange')
        ? podEndpoint(podConfig, address)
        : undefined;
    members.set(podName, { uid, ...(address && endpoint ? { address, endpoint } : {}) });
  }
  return {
    ...(values.masterKey
      ? {
          credentials: {
            masterKey: Buffer.from(values.masterKey, 'base64'),
            // The keys config.toml has: Connect accepts exactly the tokens the servers accept.
            accessKeys: rendered.publicKeys,
          },
        }
      : {}),
    members,
  };
}
