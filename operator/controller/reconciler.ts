/**
 * One reconcile of one OdinServer, as a sequence of named steps (in the style of Agones'
 * `syncGameServer`): observe → autoscale → plan → render → apply → status. Each step is a
 * function of its own module, pure where it can be; this class only runs them in order and
 * performs the writes they decide, through a `ClusterWriter` (the API server in production,
 * a recording fake in unit tests).
 *
 * Level-based and idempotent: the same world gives the same writes, and a world that already
 * matches gives none (docs/operator.md, "No change, no write").
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { OdinJwk } from '../../common/auth/index.ts';
import type { DefaultedOdinServer, OdinServer, OdinServerStatus } from '../api/types.ts';
import type { Recommendation } from '../autoscale/recommend.ts';
import { type ScaleDownPlan, SILENT_REMOVABLE_MS } from '../autoscale/scaleDown.ts';
import { formatPorts } from '../render/hostPorts.ts';
import {
  childNames,
  DRAINING_ANNOTATION,
  HELD_ANNOTATION,
  ownerReference,
  PORTS_ANNOTATION,
} from '../render/labels.ts';
import type { Fleet } from '../supervisor/fleet.ts';
import { childrenToApply, fleetCredentials, podMarks } from './apply.ts';
import type { Caches } from './caches.ts';
import { render } from './desired.ts';
import type { OperatorMetrics } from './health.ts';
import { planKeys, secretProblems } from './keys.ts';
import { checkLicense, type LicenseCheck, licenseCondition } from './license.ts';
import { type Observation, observe, type ServerView, serverViews } from './observe.ts';
import { autoscale, plan } from './plan.ts';
import { PortLedger, planPorts, portsCondition } from './portAllocation.ts';
import { isHeld, planRollout, type RolloutPlan } from './rollout.ts';
import { computeStatus, type ExtraCondition, type StatusInput, sameStatus } from './status.ts';

/** The writes a reconcile makes. */
export interface ClusterWriter {
  /** Server-side apply (field manager odin-operator, force). */
  apply(object: KubernetesObject): Promise<void>;
  /** spec.replicas through the scale subresource. */
  scale(namespace: string, name: string, replicas: number): Promise<void>;
  /** Server-side apply of the status subresource. */
  writeStatus(namespace: string, name: string, status: OdinServerStatus): Promise<void>;
  /** JSON merge patch of a pod (labels other managers own can be removed this way). */
  patchPod(namespace: string, name: string, patch: object): Promise<void>;
  deletePod(namespace: string, name: string): Promise<void>;
}

export interface EventSink {
  record(
    server: DefaultedOdinServer,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

/** The built-in supervisor, as the reconciler updates it. */
export type Fleets = {
  fleet(namespace: string, name: string): Fleet;
  forget(namespace: string, name: string): void;
};

export type ReconcilerParams = {
  caches: Caches;
  writer: ClusterWriter;
  events: EventSink;
  fleets: Fleets;
  metrics: Pick<OperatorMetrics, 'reconciles'>;
  /** Base URL pods reach the built-in supervisor on. */
  supervisorUrl: string;
  now: () => number;
  /**
   * A spec change waits this long for the next one before anything is rendered (default 0):
   * rapid edits roll out once, with the last spec (docs/operator.md, "Rapid edits").
   */
  settleMs?: number;
  /** A draining Ready server that has not reported this long is removed (scaleDown.ts). */
  silentRemovableMs?: number;
  /**
   * More checks of an OdinServer that become status conditions (e.g. the licence it mounts):
   * each ExtraCondition is written after the built-in ones, with an Event on every transition.
   */
  extraConditions?: (
    observation: Observation,
  ) => readonly ExtraCondition[] | Promise<readonly ExtraCondition[]>;
  /** Licence issuer keys the operator trusts and gives the pods (`--license-issuers`). */
  licenseIssuers?: readonly OdinJwk[];
  /** Told every licence check (the controller re-queues the OdinServer when it expires). */
  onLicenseChecked?: (key: string, check: LicenseCheck) => void;
};

/** What the work queue should do with the key afterwards. */
export type ReconcileResult = { requeueAfterMs?: number };

/** How long a hold this reconciler made may take to reach the pod cache. */
const HOLD_CACHE_LAG_MS = 60_000;

/** While a pod waits for free host ports, the OdinServer is looked at again this often (other fleets' pods may go). */
export const PORTS_RETRY_MS = 5_000;

/** While the autoscaler stabilises, it re-evaluates this often even when no report arrives. */
export const AUTOSCALE_RESYNC_MS = 5_000;

export class Reconciler {
  readonly #p: ReconcilerParams;
  /** When this reconciler started: servers cannot have reported to it before. */
  readonly #since: number;
  /** The autoscaler's stabilisation history per OdinServer key. */
  readonly #history = new Map<string, Recommendation[]>();
  /** Pods held by this reconciler (namespace/pod → when), until the cache shows the hold. */
  readonly #holding = new Map<string, number>();
  /** The last spec generation seen per key, and when it was first seen (settle time). */
  readonly #generations = new Map<string, { generation: number; at: number }>();
  /** Host ports given out and not yet seen in the pod cache, for every OdinServer (PortRange mode). */
  readonly #ports = new PortLedger();

  constructor(params: ReconcilerParams) {
    this.#p = params;
    this.#since = params.now();
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const key = `${namespace}/${name}`;
    const { caches, writer, events, fleets, metrics } = this.#p;
    const now = this.#p.now();

    // 1. observe
    let observation = observe(caches, namespace, name);
    if (!observation) {
      // Children carry owner references: the garbage collector removes them.
      fleets.forget(namespace, name);
      this.#history.delete(key);
      this.#generations.delete(key);
      return {};
    }
    const { server, found, pods } = observation;
    const fleet = observation.builtIn ? fleets.fleet(namespace, name) : undefined;
    observation = await this.#keepMasterKey(observation, fleet?.credentials?.masterKey);
    if (fleet) fleet.update({ pods: pods.map((p) => p.metadata!.name!) }, now);
    else fleets.forget(namespace, name);
    const views = serverViews(pods, (pod) => fleet?.servers.get(pod), now, this.#since);
    const settling = this.#settling(key, found.metadata?.generation ?? 0, now);
    if (settling > 0) return { requeueAfterMs: settling };

    // 2. autoscale
    const scaling = autoscale({ observation, views, history: this.#history.get(key) ?? [], now });
    if (scaling.history) this.#history.set(key, scaling.history);
    if (scaling.scaleTo !== undefined) {
      const from = server.spec.replicas;
      await writer.scale(namespace, name, scaling.scaleTo);
      await events.record(
        server,
        'Normal',
        scaling.scaleTo > from ? 'ScalingUp' : 'ScalingDown',
        `autoscaler: ${from} -> ${scaling.scaleTo} servers (recommendation ${scaling.recommendation})`,
      );
    }
    const result: ReconcileResult = scaling.history ? { requeueAfterMs: AUTOSCALE_RESYNC_MS } : {};

    // 3. plan (pods held through a rollout are not the Deployment's: rollout.ts)
    const heldBefore = new Set(pods.filter(isHeld).map((p) => p.metadata!.name!));
    const scaleDown = plan({
      observation,
      views: views.filter((v) => !heldBefore.has(v.name)),
      desired: scaling.desired,
      ...(this.#p.silentRemovableMs !== undefined ? { silentRemovableMs: this.#p.silentRemovableMs } : {}),
    });
    if (fleet) fleet.update({ draining: [...scaleDown.draining, ...heldBefore] }, now);
    // A silent draining server becomes removable by time alone: come back when it does.
    const silentRemovableMs = this.#p.silentRemovableMs ?? SILENT_REMOVABLE_MS;
    for (const v of views) {
      if (!scaleDown.draining.includes(v.name) || scaleDown.removable.includes(v.name)) continue;
      if (v.silentForMs === undefined || !v.ready) continue;
      const wait = Math.max(0, silentRemovableMs - v.silentForMs) + 100;
      result.requeueAfterMs = Math.min(result.requeueAfterMs ?? wait, wait);
    }

    // 4. render (with the access keys the fleet serves: a lost Secret never rotates them, and
    // only a licence verified as grid will verify it: license.ts)
    const licence = checkLicense({
      server,
      secret: server.spec.license
        ? caches.secrets.get(server.spec.license.secretRef.name, namespace)
        : undefined,
      trustedIssuers: this.#p.licenseIssuers ?? [],
      now,
    });
    this.#p.onLicenseChecked?.(key, licence);
    const keys = planKeys(observation);
    const rendered = render({
      observation,
      views,
      plan: scaleDown,
      keys,
      supervisorUrl: this.#p.supervisorUrl,
      ...(licence.state === 'valid' ? { license: licence.content } : {}),
      licenseIssuers: (this.#p.licenseIssuers ?? []).map((k) => k.x),
    });
    const licenceRefused = licence.state === 'invalid';

    // 5. apply: host ports first (PortRange mode): pods wait for them whatever else happens.
    const portsCondition = await this.#assignPorts(observation);
    if (portsCondition && !portsCondition.ok)
      result.requeueAfterMs = Math.min(result.requeueAfterMs ?? PORTS_RETRY_MS, PORTS_RETRY_MS);

    // 5. apply, 6. status (always, also when apply fails)
    const statusInput: Omit<StatusInput, 'server' | 'now'> & { draining: string[]; held: string[] } = {
      errors: rendered.errors,
      pods: views,
      deployment: observation.deployment,
      draining: [...scaleDown.draining, ...heldBefore],
      held: [...heldBefore],
      secretProblems: secretProblems(observation, keys),
      extraConditions: [
        ...[licenseCondition(licence), portsCondition].filter((c) => c !== undefined),
        ...((await this.#p.extraConditions?.(observation)) ?? []),
      ],
      ...(scaling.recommendation !== undefined ? { desiredReplicas: scaling.recommendation } : {}),
    };
    const previousValid = !found.status?.conditions?.some(
      (c) => c.type === 'ConfigValid' && c.status === 'False',
    );
    // Nothing rolls out with an invalid spec or a refused licence: the running servers keep theirs.
    if (rendered.errors.length > 0 || licenceRefused) {
      metrics.reconciles.inc({ result: 'invalid' });
      if (previousValid && rendered.errors.length > 0)
        await events.record(
          server,
          'Warning',
          'InvalidConfig',
          rendered.errors
            .map((e) => `${e.path}: ${e.message}`)
            .join('; ')
            .slice(0, 1000),
        );
      await this.#status(found, server, statusInput);
      return result;
    }
    let failure: string | undefined;
    try {
      // Hold first: once the new template is applied, the Deployment may replace old pods at once.
      const rollout = await this.#rollout(observation, views, rendered.configHash, now);
      await this.#applyChildren(server, rendered.objects);
      await this.#markPods(
        server,
        pods.filter((p) => !heldBefore.has(p.metadata!.name!) && !rollout.hold.includes(p.metadata!.name!)),
        scaleDown,
      );
      statusInput.draining = [...scaleDown.draining, ...rollout.held];
      statusInput.held = rollout.held;
      if (fleet) fleet.update({ draining: [...statusInput.draining, ...rollout.outdated] }, now);
      if (rollout.held.length > 0) result.requeueAfterMs = Math.min(result.requeueAfterMs ?? 30_000, 30_000);
      if (fleet) fleet.update(fleetCredentials(server, rendered, caches), now);
      if (!previousValid)
        await events.record(server, 'Normal', 'ConfigValid', 'spec is valid again; rolling out');
      metrics.reconciles.inc({ result: 'ok' });
    } catch (error) {
      failure = describeError(error);
      throw error;
    } finally {
      await this.#status(found, server, { ...statusInput, ...(failure ? { failure } : {}) });
    }
    return result;
  }

  /**
   * A deleted `<name>-supervisor` Secret is written back with the master key this operator
   * holds for the running fleet: a new key would change every server's derived key, so the
   * tokens Connect signs would be refused by the servers already running (they got theirs in
   * sfu.GridConfig at start) until each restarted. Only an operator that never saw the key (a
   * restart after the Secret was deleted) generates a new one; docs/operator.md says so.
   */
  async #keepMasterKey(observation: Observation, held: Uint8Array | undefined): Promise<Observation> {
    if (!observation.builtIn || observation.supervisorSecret.masterKey !== undefined || !held)
      return observation;
    await this.#p.events.record(
      observation.server,
      'Warning',
      'SupervisorSecretRestored',
      `Secret ${childNames(observation.server.metadata.name).supervisorSecret} was deleted; ` +
        'written back with the master key the running servers use',
    );
    return {
      ...observation,
      supervisorSecret: { ...observation.supervisorSecret, masterKey: Buffer.from(held).toString('base64') },
    };
  }

  /**
   * Step 5 (first): host ports for the fleet's pods that are on a node and have none
   * (portAllocation.ts), written as their annotation; the condition `PortsAssigned` says whether
   * every pod got its ports, naming the numbers when a node's range is used up.
   */
  async #assignPorts(observation: Observation): Promise<ExtraCondition | undefined> {
    const { server, pods } = observation;
    if (server.spec.networking.mode !== 'PortRange') return undefined;
    const allPods = this.#p.caches.pods.list();
    this.#ports.prune(allPods);
    const portPlan = planPorts({ server, pods, allPods, reservations: this.#ports.reservations });
    // Reserved before the first await: the next OdinServer's reconcile sees these ports as used.
    this.#ports.reserve(portPlan);
    // A merge patch, not our server-side apply of pod marks: that apply would drop the field.
    for (const a of portPlan.assign) {
      try {
        await this.#p.writer.patchPod(server.metadata.namespace, a.pod, {
          metadata: { annotations: { [PORTS_ANNOTATION]: formatPorts(a.ports) } },
        });
      } catch (error) {
        // Gone since the cache showed it: its reservation goes with the next prune.
        if ((error as { code?: number }).code !== 404) throw error;
      }
    }
    return portsCondition(server.spec.networking.portRange, portPlan.shortages);
  }

  /** Step 5a: server-side apply of the children that differ (apply.ts), with their events. */
  async #applyChildren(server: DefaultedOdinServer, objects: readonly KubernetesObject[]): Promise<void> {
    const { writer, events } = this.#p;
    for (const write of childrenToApply(objects, this.#p.caches)) {
      await writer.apply(write.object);
      const child = `${write.object.kind}/${write.object.metadata?.name}`;
      if (write.why === 'new') await events.record(server, 'Normal', 'Created', `created ${child}`);
      if (write.why === 'drift')
        await events.record(
          server,
          'Warning',
          'DriftReverted',
          `${child}: ${write.field} was changed outside the operator; restored`,
        );
    }
  }

  /** Step 5b: draining marks and deletion costs of the scale-down plan. */
  async #markPods(
    server: DefaultedOdinServer,
    pods: readonly V1Pod[],
    scaleDown: ScaleDownPlan,
  ): Promise<void> {
    for (const mark of podMarks(server, pods, scaleDown)) {
      await this.#p.writer.apply(mark.patch);
      for (const e of mark.events) await this.#p.events.record(server, 'Normal', e.reason, e.message);
    }
  }

  /** Step 5c: hold old servers with conversations through a rollout, release the empty ones (rollout.ts). */
  async #rollout(
    observation: Observation,
    views: readonly ServerView[],
    configHash: string,
    now: number,
  ): Promise<RolloutPlan> {
    const { server, pods } = observation;
    const { namespace } = server.metadata;
    const { writer, events } = this.#p;
    const rollout = planRollout({
      server,
      pods,
      views,
      configHash,
      builtIn: observation.builtIn,
      silentRemovableMs: this.#p.silentRemovableMs ?? SILENT_REMOVABLE_MS,
      now,
    });
    for (const [key, at] of this.#holding) if (now - at > HOLD_CACHE_LAG_MS) this.#holding.delete(key);
    for (const pod of rollout.hold) {
      // The informer may not show our hold yet: patching again is harmless, a second event is noise.
      if (this.#holding.has(`${namespace}/${pod}`)) continue;
      this.#holding.set(`${namespace}/${pod}`, now);
      await writer.patchPod(namespace, pod, holdPatch(server, now));
      const rooms = views.find((v) => v.name === pod)?.report?.rooms ?? 0;
      await events.record(
        server,
        'Normal',
        'HeldForConversations',
        `server ${pod} of the previous config keeps its ${rooms} room(s) through the rollout; no new rooms go there`,
      );
    }
    for (const { pod, why } of rollout.release) {
      await writer.deletePod(namespace, pod);
      await events.record(server, 'Normal', 'Replaced', `server ${pod} of the previous config goes: ${why}`);
    }
    return rollout;
  }

  /**
   * Milliseconds the spec of `key` still has to stay unchanged before it is rolled out. The first
   * generation a reconciler sees (a new OdinServer, an operator start) is settled at once.
   */
  #settling(key: string, generation: number, now: number): number {
    const settleMs = this.#p.settleMs ?? 0;
    const seen = this.#generations.get(key);
    if (!seen) {
      this.#generations.set(key, { generation, at: Number.NEGATIVE_INFINITY });
      return 0;
    }
    if (seen.generation !== generation) this.#generations.set(key, { generation, at: now });
    return Math.max(0, settleMs - (now - this.#generations.get(key)!.at));
  }

  /**
   * Step 6, status: computed purely (status.ts), written only when it differs, with an Event for
   * every condition that changed (ConfigValid has its own InvalidConfig/ConfigValid events).
   */
  async #status(
    found: OdinServer,
    server: DefaultedOdinServer,
    input: Omit<StatusInput, 'server' | 'now'>,
  ): Promise<void> {
    const status = computeStatus({ ...input, server, now: new Date(this.#p.now()) }, found.status);
    if (sameStatus(found.status, status)) return;
    await this.#p.writer.writeStatus(server.metadata.namespace, server.metadata.name, status);
    for (const t of conditionTransitions(found.status, status))
      await this.#p.events.record(server, t.type, t.reason, t.message);
  }
}

/**
 * Conditions whose status changed, as Events (healthy states Normal, others Warning). A new
 * OdinServer's first status reports only problems (not "not ready yet"); ConfigValid and a
 * Degraded caused by it have their own InvalidConfig/ConfigValid events.
 */
export function conditionTransitions(
  previous: OdinServerStatus | undefined,
  next: OdinServerStatus,
): { type: 'Normal' | 'Warning'; reason: string; message: string }[] {
  const out: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
  for (const c of next.conditions ?? []) {
    if (c.type === 'ConfigValid' || c.reason === 'InvalidConfig') continue;
    const old = previous?.conditions?.find((p) => p.type === c.type);
    if (old?.status === c.status) continue;
    const healthy =
      c.type === 'Degraded' ? c.status === 'False' : c.type === 'Progressing' || c.status === 'True';
    if (!old && (healthy || c.type === 'Ready')) continue;
    out.push({
      type: healthy ? 'Normal' : 'Warning',
      reason: c.reason,
      message: `${c.type}=${c.status}: ${c.message}`.slice(0, 1000),
    });
  }
  return out;
}

/** Takes a pod out of its ReplicaSet and makes it the OdinServer's, draining (rollout.ts). */
function holdPatch(server: DefaultedOdinServer, now: number): object {
  return {
    metadata: {
      labels: { 'pod-template-hash': null },
      annotations: { [HELD_ANNOTATION]: new Date(now).toISOString(), [DRAINING_ANNOTATION]: 'true' },
      ownerReferences: [ownerReference(server)],
    },
  };
}

export function describeError(error: unknown): string {
  const e = error as { code?: number; body?: unknown; message?: string };
  const body = typeof e.body === 'string' ? e.body : e.body ? JSON.stringify(e.body) : '';
  return `${e.code ? `HTTP ${e.code}: ` : ''}${e.message ?? String(error)}${body ? ` ${body.slice(0, 500)}` : ''}`;
}
