/**
 * Conversation-safe rollouts (as Agones never touches an allocated server on a fleet update).
 * A Deployment rollout would SIGTERM every old pod once its replacement is Ready, and grid's
 * SIGTERM drain refuses joins and ends the rooms after `drainGracePeriodSeconds`. Instead, when
 * the config or the image changes, an old server that still has rooms is *held*:
 *
 * 1. the operator takes it out of its ReplicaSet (removes the `pod-template-hash` label and puts
 *    its own controller reference on it: the Deployment creates a replacement with the new
 *    config, and deleting the OdinServer still garbage-collects the pod);
 * 2. it is marked draining: the built-in supervisor places no new room there, but its rooms stay
 *    sticky, so players keep joining their conversation on it (no room is split);
 * 3. it is deleted once it reports no rooms and no peers, or after
 *    `spec.rolloutConversationTimeoutSeconds` (then its SIGTERM drain runs as usual), or when it
 *    stops reporting / stops being ready.
 *
 * Idle old servers are left to the Deployment (SIGTERM with no rooms: they exit at once). Needs
 * the built-in supervisor (reports tell which servers have rooms); with an external one the
 * Deployment rolls as before. Other template changes (resources, scheduling) roll as before.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { DefaultedOdinServer } from '../api/types.ts';
import { CONFIG_HASH_ANNOTATION, HELD_ANNOTATION } from '../render/labels.ts';
import type { ServerView } from './observe.ts';

export type RolloutPlan = {
  /** Old pods with conversations to take out of their ReplicaSet now. */
  hold: string[];
  /** Held pods to delete now, with why. */
  release: { pod: string; why: string }[];
  /** Every held pod after this plan (draining, not the Deployment's). */
  held: string[];
  /** Old pods the Deployment replaces: no new rooms go there either (they would be cut). */
  outdated: string[];
};

const heldSince = (pod: V1Pod): number | undefined => {
  const at = pod.metadata?.annotations?.[HELD_ANNOTATION];
  const ms = at ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? (at !== undefined ? 0 : undefined) : ms;
};

export const isHeld = (pod: V1Pod): boolean => pod.metadata?.annotations?.[HELD_ANNOTATION] !== undefined;

/** A pod runs an older config or image than the one rendered now. */
export function isOutdated(pod: V1Pod, server: DefaultedOdinServer, configHash: string): boolean {
  const image = pod.spec?.containers.find((c) => c.name === 'grid')?.image;
  return pod.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] !== configHash || image !== server.spec.image;
}

export function planRollout(params: {
  server: DefaultedOdinServer;
  pods: readonly V1Pod[];
  views: readonly ServerView[];
  /** The config hash rendered now ('' when nothing renders: hold nothing new). */
  configHash: string;
  /** Reports exist (built-in supervisor). */
  builtIn: boolean;
  /** A held server silent this long is released (scaleDown.ts's timeout). */
  silentRemovableMs: number;
  now: number;
}): RolloutPlan {
  const { server, now } = params;
  const limitMs = server.spec.rolloutConversationTimeoutSeconds * 1000;
  const view = new Map(params.views.map((v) => [v.name, v]));
  const hold: string[] = [];
  const release: RolloutPlan['release'] = [];
  const held: string[] = [];
  const outdated: string[] = [];
  for (const pod of params.pods) {
    const name = pod.metadata!.name!;
    const v = view.get(name);
    const since = heldSince(pod);
    if (since !== undefined) {
      const why = !v?.report
        ? v?.ready && (v.silentForMs ?? 0) < params.silentRemovableMs
          ? undefined
          : 'it stopped reporting'
        : v.report.rooms === 0 && v.report.peers === 0
          ? 'its conversations ended'
          : now - since >= limitMs
            ? `rolloutConversationTimeoutSeconds (${server.spec.rolloutConversationTimeoutSeconds} s) passed`
            : undefined;
      if (why) release.push({ pod: name, why });
      else held.push(name);
      continue;
    }
    const owner = pod.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'ReplicaSet');
    const busy = v?.report !== undefined && (v.report.rooms > 0 || v.report.peers > 0);
    if (!params.builtIn || limitMs <= 0 || params.configHash === '' || !owner) continue;
    if (!isOutdated(pod, server, params.configHash)) continue;
    if (busy) {
      hold.push(name);
      held.push(name);
    } else outdated.push(name);
  }
  return { hold, release, held, outdated };
}
