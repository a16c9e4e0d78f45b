/**
 * The OdinServer status, computed from what the controller sees (pure). Conditions keep their
 * lastTransitionTime while their status does not change, so an unchanged world gives an equal
 * status and the controller writes nothing.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type {
  Condition,
  DefaultedOdinServer,
  FieldError,
  OdinServerStatus,
  ServerStatus,
} from '../api/types.ts';
import type { PodView } from '../autoscale/scaleDown.ts';
import { selectorString } from '../render/labels.ts';
import type { SecretProblem } from './keys.ts';

/**
 * A condition computed elsewhere (e.g. the licence check), added to status as is. `degrades`:
 * when not ok, Degraded=True with its reason.
 */
export type ExtraCondition = {
  type: string;
  ok: boolean;
  reason: string;
  message: string;
  degrades?: boolean;
  /**
   * When not ok, nothing of the spec rolls out (the running servers keep what they have):
   * Ready=False with this reason, as for an invalid config (e.g. `LicenseInvalid`).
   */
  blocksRolloutAs?: string;
};

export type StatusInput = {
  server: DefaultedOdinServer;
  errors: readonly FieldError[];
  /** A failure of this reconcile (an API error), for Degraded. */
  failure?: string;
  pods: readonly (PodView & { address?: string; reporting: boolean; unschedulable?: string })[];
  /** Secrets the spec needs that are missing (keys.ts): SecretsReady=False, Degraded=True. */
  secretProblems?: readonly SecretProblem[];
  /** More conditions, after the built-in ones (see ExtraCondition). */
  extraConditions?: readonly ExtraCondition[];
  deployment: V1Deployment | undefined;
  draining: readonly string[];
  /** Pods of a previous config held through a rollout for their conversations (rollout.ts). */
  held?: readonly string[];
  desiredReplicas?: number;
  now: Date;
};

const round = (x: number) => Math.round(x * 100) / 100;

export function computeStatus(input: StatusInput, previous: OdinServerStatus | undefined): OdinServerStatus {
  const { server, errors, pods, deployment } = input;
  const generation = server.metadata.generation ?? 0;
  const servers: ServerStatus[] = pods
    .map((p) => ({
      pod: p.name,
      ...(p.address ? { address: p.address } : {}),
      ready: p.ready,
      reporting: p.reporting,
      load: round(p.report?.load ?? 0),
      clients: p.report?.clients ?? 0,
      rooms: p.report?.rooms ?? 0,
      peers: p.report?.peers ?? 0,
      draining: input.draining.includes(p.name),
    }))
    .sort((a, b) => a.pod.localeCompare(b.pod));
  const reporting = servers.filter((s) => s.reporting);
  const held = input.held ?? [];
  // Held servers are extra: the Deployment's replicas and readiness do not count them.
  const fleetServers = servers.filter((s) => !held.includes(s.pod));
  const readyReplicas = fleetServers.filter((s) => s.ready).length;
  const sum = (f: (s: ServerStatus) => number) => servers.reduce((n, s) => n + f(s), 0);
  const configValid = errors.length === 0;
  const want = server.spec.replicas;
  const rolling =
    deployment !== undefined &&
    ((deployment.status?.observedGeneration ?? 0) < (deployment.metadata?.generation ?? 0) ||
      (deployment.status?.updatedReplicas ?? 0) < (deployment.spec?.replicas ?? 0) ||
      (deployment.status?.replicas ?? 0) > (deployment.spec?.replicas ?? 0));
  const drainingCount = input.draining.length;
  const podCount = fleetServers.length;
  const scaling = podCount !== want;
  const unschedulable = pods.filter((p) => p.unschedulable !== undefined);
  const secretProblems = input.secretProblems ?? [];
  const extraProblems = (input.extraConditions ?? []).filter((c) => !c.ok && c.degrades);

  const conditions: Condition[] = [];
  const set = (type: Condition['type'], ok: boolean, reason: string, message: string) => {
    const status = ok ? 'True' : 'False';
    const old = previous?.conditions?.find((c) => c.type === type);
    conditions.push({
      type,
      status,
      reason,
      message,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : input.now.toISOString(),
    });
  };
  set(
    'ConfigValid',
    configValid,
    configValid ? 'Valid' : 'InvalidConfig',
    configValid
      ? 'spec is valid; config.toml rendered'
      : errors.map((e) => `${e.path}: ${e.message}`).join('; '),
  );
  const unschedulableMessage =
    unschedulable.length > 0
      ? `${unschedulable.length} pod(s) cannot be scheduled: ${unschedulable[0]!.name}: ${unschedulable[0]!.unschedulable}`
      : '';
  const blockedBy = (input.extraConditions ?? []).find((c) => !c.ok && c.blocksRolloutAs !== undefined);
  const ready =
    configValid &&
    blockedBy === undefined &&
    readyReplicas >= want &&
    !rolling &&
    input.failure === undefined;
  set(
    'Ready',
    ready,
    ready
      ? 'AllServersReady'
      : !configValid
        ? 'InvalidConfig'
        : blockedBy !== undefined
          ? blockedBy.blocksRolloutAs!
          : rolling
            ? 'RollingUpdate'
            : unschedulable.length > 0
              ? 'Unschedulable'
              : (secretProblems[0]?.reason ?? 'ServersNotReady'),
    `${readyReplicas}/${want} servers ready${unschedulableMessage ? `; ${unschedulableMessage}` : ''}`,
  );
  const waiting = readyReplicas < want;
  const progressing = configValid && (rolling || scaling || drainingCount > 0 || waiting || held.length > 0);
  set(
    'Progressing',
    progressing,
    !progressing
      ? 'Stable'
      : rolling
        ? 'RollingUpdate'
        : held.length > 0
          ? 'HeldForConversations'
          : drainingCount > 0
            ? 'Draining'
            : scaling
              ? 'Scaling'
              : 'WaitingForServers',
    held.length > 0
      ? `${held.length} server(s) of the previous config keep their conversations until empty (at most ${server.spec.rolloutConversationTimeoutSeconds} s)`
      : drainingCount > 0
        ? `${drainingCount} server(s) draining before removal`
        : `${podCount} pods, ${readyReplicas} ready, ${want} wanted`,
  );
  const degradedBy: { reason: string; message: string } | undefined = !configValid
    ? { reason: 'InvalidConfig', message: 'the last valid spec keeps running; fix spec to roll out' }
    : input.failure !== undefined
      ? { reason: 'ReconcileError', message: input.failure }
      : (secretProblems[0] ??
        (extraProblems[0] && {
          reason: extraProblems[0].blocksRolloutAs ?? extraProblems[0].reason,
          message: extraProblems[0].message,
        }) ??
        (unschedulable.length > 0 ? { reason: 'Unschedulable', message: unschedulableMessage } : undefined));
  set(
    'Degraded',
    degradedBy !== undefined,
    degradedBy?.reason ?? 'AsExpected',
    degradedBy?.message ?? 'reconciled',
  );
  set(
    'SecretsReady',
    secretProblems.length === 0,
    secretProblems.length === 0 ? 'AllSecretsPresent' : secretProblems[0]!.reason,
    secretProblems.length === 0
      ? 'every Secret the spec names exists'
      : secretProblems.map((p) => p.message).join('; '),
  );
  // Extra conditions (e.g. LicenseValid) go here, after the built-in ones.
  for (const c of input.extraConditions ?? []) set(c.type, c.ok, c.reason, c.message);

  const status: OdinServerStatus = {
    observedGeneration: generation,
    conditions,
    replicas: podCount,
    readyReplicas,
    selector: selectorString(server),
    servers,
    clients: sum((s) => s.clients),
    rooms: sum((s) => s.rooms),
    peers: sum((s) => s.peers),
    load: reporting.length === 0 ? 0 : round(reporting.reduce((n, s) => n + s.load, 0) / reporting.length),
    draining: drainingCount,
  };
  if (input.desiredReplicas !== undefined) status.desiredReplicas = input.desiredReplicas;
  return status;
}

/** Equal for the purpose of writing: JSON of both, keys in a fixed order. */
export function sameStatus(a: OdinServerStatus | undefined, b: OdinServerStatus): boolean {
  return a !== undefined && stableJson(a) === stableJson(b);
}

export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([p], [q]) => p.localeCompare(q)),
        )
      : x,
  );
}
