/**
 * Steps 2 and 3 of a reconcile: autoscale (how many servers the fleet should have) and plan
 * (which pods drain, which go, what the Deployment's replicas are). Pure: the reconciler
 * performs what they decide.
 */
import { type Recommendation, recommendReplicas, stabilize } from '../autoscale/recommend.ts';
import { planScaleDown, type ScaleDownPlan } from '../autoscale/scaleDown.ts';
import type { Observation, ServerView } from './observe.ts';

export type AutoscaleDecision = {
  /** The replica count the rest of the reconcile works towards. */
  desired: number;
  /** The autoscaler's raw recommendation (status.desiredReplicas); absent when it is off. */
  recommendation?: number;
  /** spec.replicas to write through /scale, when it changes. */
  scaleTo?: number;
  /** The stabilisation history to keep (absent: forget it). */
  history?: Recommendation[];
};

/**
 * The operator owns spec.replicas while spec.autoscaling is on and the built-in supervisor gives
 * it reports to go by; otherwise spec.replicas is what it is.
 */
export function autoscale(params: {
  observation: Observation;
  views: readonly ServerView[];
  history: readonly Recommendation[];
  now: number;
}): AutoscaleDecision {
  const { spec } = params.observation.server;
  const a = spec.autoscaling;
  if (!a?.enabled || !params.observation.builtIn) return { desired: spec.replicas };
  const reports = params.views.filter((v) => v.report).map((v) => ({ ...v.report!, draining: v.draining }));
  const recommendation = recommendReplicas({
    autoscaling: a,
    current: spec.replicas,
    servers: reports,
    maxPeers: (spec.config.limit as { max_peers?: number } | undefined)?.max_peers,
  });
  const stable = stabilize({
    history: params.history,
    now: params.now,
    windowMs: a.scaleDownDelaySeconds * 1000,
    recommendation,
    current: spec.replicas,
  });
  return {
    desired: stable.replicas,
    recommendation,
    history: stable.history,
    ...(stable.replicas !== spec.replicas ? { scaleTo: stable.replicas } : {}),
  };
}

/** Scale-down: drain, then remove exactly the drained pods (autoscale/scaleDown.ts). */
export function plan(params: {
  observation: Observation;
  views: readonly ServerView[];
  desired: number;
  silentRemovableMs?: number;
}): ScaleDownPlan {
  return planScaleDown({
    pods: params.views,
    desired: params.desired,
    current: params.observation.deployment?.spec?.replicas,
    reportsAvailable: params.observation.builtIn,
    ...(params.silentRemovableMs !== undefined ? { silentRemovableMs: params.silentRemovableMs } : {}),
  });
}
