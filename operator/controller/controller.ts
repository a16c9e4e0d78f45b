/**
 * The OdinServer controller (controller-runtime's shape): informers on OdinServers and their
 * children feed a keyed work queue; each reconcile is level-based: read the world from the
 * caches, render the desired state, server-side apply what differs (field manager
 * `odin-operator`, owner references on every child), then write status last.
 *
 * No change, no write: every applied child carries the hash of its desired form
 * (`odin-grid.io/applied-hash`); a child whose cached copy has the same hash is not sent, and
 * status is written only when it differs. A restarted operator therefore writes nothing.
 */
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Deployment,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { applyDefaults } from '../api/defaults.ts';
import {
  API_VERSION,
  type DefaultedOdinServer,
  FIELD_MANAGER,
  GROUP,
  KIND,
  type OdinServer,
  PLURAL,
  VERSION,
} from '../api/types.ts';
import { type Recommendation, recommendReplicas, stabilize } from '../autoscale/recommend.ts';
import { type PodView, planScaleDown, REMOVABLE_DELETION_COST } from '../autoscale/scaleDown.ts';
import { parseRenderedConfig, podEndpoint, podPublicAddress } from '../render/endpoint.ts';
import { renderChildren } from '../render/index.ts';
import {
  APPLIED_HASH_ANNOTATION,
  childNames,
  DELETION_COST_ANNOTATION,
  DRAINING_ANNOTATION,
  POD_LABEL,
  SERVER_LABEL,
} from '../render/labels.ts';
import { accessKeysFrom, type SecretData, secretValues } from '../render/secrets.ts';
import { SILENT_AFTER_MS } from '../supervisor/fleet.ts';
import type { SupervisorServer } from '../supervisor/server.ts';
import { EventRecorder } from './events.ts';
import type { OperatorMetrics } from './health.ts';
import { type Cache, makeCaches, SecretRefs } from './informers.ts';
import { computeStatus, sameStatus, stableJson } from './status.ts';
import { WorkQueue } from './workqueue.ts';

/** After a report, the fleet's status and autoscaling are refreshed at most this often. */
export const REPORT_RESYNC_MS = 2_000;

export type ControllerParams = {
  kubeConfig: KubeConfig;
  supervisor: SupervisorServer;
  /** Base URL pods reach the built-in supervisor on. */
  supervisorUrl: string;
  metrics: OperatorMetrics;
  /** Watch only these namespaces (Roles suffice); undefined: the whole cluster. */
  namespaces?: readonly string[];
  identity: string;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
};

export class OdinServerController {
  readonly queue = new WorkQueue();
  readonly #p: ControllerParams;
  readonly #objects: KubernetesObjectApi;
  readonly #custom: CustomObjectsApi;
  readonly #events: EventRecorder;
  readonly #servers: Cache<OdinServer>;
  readonly #deployments: Cache<V1Deployment>;
  readonly #configMaps: Cache<V1ConfigMap>;
  readonly #services: Cache<V1Service>;
  readonly #pdbs: Cache<V1PodDisruptionBudget>;
  /** The operator's own Secrets (by label). */
  readonly #secrets: Cache<V1Secret>;
  /** Secrets the OdinServers name (one watch per name). */
  readonly #secretRefs: SecretRefs;
  readonly #pods: Cache<V1Pod>;
  readonly #history = new Map<string, Recommendation[]>();
  readonly #now: () => number;
  #synced = false;
  #leading = false;
  #workers: Promise<void>[] = [];

  constructor(params: ControllerParams) {
    this.#p = params;
    this.#now = params.now ?? Date.now;
    const kc = params.kubeConfig;
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#events = new EventRecorder(kc, params.identity);
    const caches = makeCaches(kc, params.namespaces);
    this.#servers = caches.servers;
    this.#deployments = caches.deployments;
    this.#configMaps = caches.configMaps;
    this.#services = caches.services;
    this.#pdbs = caches.pdbs;
    this.#secrets = caches.ownSecrets;
    this.#pods = caches.pods;
    const enqueueServer = (o: OdinServer) => this.queue.add(keyOf(o.metadata?.namespace, o.metadata?.name));
    for (const verb of ['add', 'update', 'delete'] as const) this.#servers.on(verb, enqueueServer);
    const enqueueOwner = (o: KubernetesObject) => {
      const owner = o.metadata?.ownerReferences?.find((r) => r.apiVersion === API_VERSION && r.kind === KIND);
      if (owner) this.queue.add(keyOf(o.metadata?.namespace, owner.name));
    };
    for (const inf of [
      this.#deployments,
      this.#configMaps,
      this.#services,
      this.#pdbs,
    ] as Cache<KubernetesObject>[])
      for (const verb of ['add', 'update', 'delete'] as const) inf.on(verb, enqueueOwner);
    const enqueuePod = (p: V1Pod) => {
      const server = p.metadata?.labels?.[SERVER_LABEL];
      if (server) this.queue.add(keyOf(p.metadata?.namespace, server));
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.#pods.on(verb, enqueuePod);
    // A Secret a spec names (or our own): reconcile the OdinServers of its namespace that use it.
    const enqueueSecret = (s: V1Secret) => {
      if (!this.#synced) return;
      for (const server of this.#servers.list(s.metadata?.namespace)) {
        const d = applyDefaults(server);
        const names = childNames(d.metadata.name);
        const used = [
          d.spec.authorization.accessKeysSecretRef?.name,
          d.spec.license?.secretRef.name,
          d.spec.tls?.secretName,
          d.spec.telemetry?.credentialsSecretRef?.name,
          names.accessKeySecret,
          names.supervisorSecret,
        ];
        if (used.includes(s.metadata?.name)) enqueueServer(server);
      }
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.#secrets.on(verb, enqueueSecret);
    this.#secretRefs = new SecretRefs(kc, enqueueSecret, (err) =>
      params.log('warn', 'watch of a named Secret failed; restarting', { error: String(err) }),
    );
    params.metrics.countCachedSecrets = () =>
      this.#secrets.list().length +
      this.#secretRefs.watched.filter((k) => {
        const [ns = '', n = ''] = k.split('/');
        return this.#secretRefs.get(ns, n) !== undefined;
      }).length;
    for (const inf of this.#informers())
      inf.onError((err, restart) => {
        params.log('warn', 'watch failed; restarting', { error: String(err) });
        setTimeout(() => void restart().catch(() => {}), 2000).unref();
      });
    params.supervisor.fleets.clear();
  }

  #informers(): Cache<KubernetesObject>[] {
    return [
      this.#servers,
      this.#deployments,
      this.#configMaps,
      this.#services,
      this.#pdbs,
      this.#secrets,
      this.#pods,
    ] as Cache<KubernetesObject>[];
  }

  /** Starts the informers (every replica keeps warm caches); resolves when they have listed. */
  async start(): Promise<void> {
    await Promise.all(this.#informers().map((i) => i.start()));
    this.#synced = true;
    this.#p.supervisor.fleets.clear();
    // Fleets answer servers on every replica's supervisor only once the leader reconciled them.
    for (const s of this.#servers.list()) this.queue.add(keyOf(s.metadata?.namespace, s.metadata?.name));
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Leadership gained: workers start processing the queue. */
  startLeading(workers = 2): void {
    this.#leading = true;
    for (const s of this.#servers.list()) this.queue.add(keyOf(s.metadata?.namespace, s.metadata?.name));
    for (let i = 0; i < workers; i++) this.#workers.push(this.#work());
  }

  async stop(): Promise<void> {
    this.#leading = false;
    this.queue.shutdown();
    await Promise.all(this.#workers);
    await Promise.all(this.#informers().map((i) => i.stop().catch(() => {})));
    await this.#secretRefs.stop();
  }

  /** A fleet reported: refresh its status and autoscaling soon (rate-limited per fleet). */
  onReport(namespace: string, name: string): void {
    this.queue.addAfter(keyOf(namespace, name), REPORT_RESYNC_MS);
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.#p.metrics.queueDepth.set(this.queue.length);
      try {
        if (this.#leading) await this.reconcile(key);
        this.queue.forget(key);
      } catch (error) {
        const delay = this.queue.addRateLimited(key);
        this.#p.metrics.reconciles.inc({ result: 'error' });
        this.#p.log('warn', 'reconcile failed; retrying', { key, delayMs: delay, error: describe(error) });
      } finally {
        this.queue.done(key);
      }
    }
  }

  async reconcile(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const found = this.#servers.get(name, namespace);
    const supervisor = this.#p.supervisor;
    if (!found || found.metadata?.deletionTimestamp) {
      // Children carry owner references: the garbage collector removes them.
      supervisor.forget(namespace, name);
      this.#history.delete(key);
      await this.#secretRefs.forget(key);
      return;
    }
    const server = applyDefaults(found);
    const names = childNames(name);
    const spec = server.spec;
    const now = this.#now();

    // --- the world, from the caches (named Secrets: watched from now on, listed before we read)
    await this.#secretRefs.use(key, namespace, [
      spec.authorization.accessKeysSecretRef?.name,
      spec.license?.secretRef.name,
      spec.tls?.secretName,
      spec.telemetry?.credentialsSecretRef?.name,
    ]);
    const secret = (n: string | undefined): V1Secret | undefined =>
      n ? (this.#secretRefs.get(namespace, n) ?? this.#secrets.get(n, namespace)) : undefined;
    const keySecretName = spec.authorization.accessKeysSecretRef?.name ?? names.accessKeySecret;
    const accessKeys = secretValues(secret(keySecretName));
    const supervisorValues = secretValues(secret(names.supervisorSecret));
    const licenseSecret = spec.license ? secret(spec.license.secretRef.name) : undefined;
    const license = licenseSecret
      ? secretValues(licenseSecret)[spec.license!.secretRef.key ?? 'license.toml']
      : undefined;
    const deployment = this.#deployments.get(names.deployment, namespace);
    const pods = this.#pods
      .list(namespace)
      .filter(
        (p) =>
          p.metadata?.labels?.[SERVER_LABEL] === name &&
          !p.metadata?.deletionTimestamp &&
          p.status?.phase !== 'Failed' &&
          p.status?.phase !== 'Succeeded',
      );
    const builtIn = spec.supervisor.mode === 'BuiltIn';
    const fleet = builtIn ? supervisor.fleet(namespace, name) : undefined;
    if (fleet) {
      fleet.pods = new Set(pods.map((p) => p.metadata!.name!));
      fleet.prune(now);
    } else supervisor.forget(namespace, name);

    const views: (PodView & { address?: string; reporting: boolean })[] = pods.map((p) => {
      const podName = p.metadata!.name!;
      const entry = fleet?.servers.get(podName);
      const reporting = entry?.lastReportAt !== undefined && now - entry.lastReportAt < SILENT_AFTER_MS;
      const report =
        reporting && entry?.report
          ? {
              load: entry.report.load,
              clients: entry.report.clients,
              rooms: entry.report.rooms.length,
              peers: entry.report.rooms.reduce((n, r) => n + r.peers, 0),
            }
          : undefined;
      return {
        name: podName,
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        createdAt: new Date(p.metadata?.creationTimestamp ?? 0).getTime(),
        draining: p.metadata?.annotations?.[DRAINING_ANNOTATION] === 'true',
        markedRemovable: p.metadata?.annotations?.[DELETION_COST_ANNOTATION] === REMOVABLE_DELETION_COST,
        ...(report ? { report } : {}),
        ...(entry ? { address: entry.endpoint } : {}),
        reporting,
      };
    });

    // --- autoscaling: the operator owns spec.replicas while it is on
    let desired = spec.replicas;
    let desiredReplicas: number | undefined;
    const a = spec.autoscaling;
    if (a?.enabled && fleet) {
      const reports = views.filter((v) => v.report).map((v) => ({ ...v.report!, draining: v.draining }));
      const recommendation = recommendReplicas({
        autoscaling: a,
        current: spec.replicas,
        servers: reports,
        maxPeers: (spec.config.limit as { max_peers?: number } | undefined)?.max_peers,
      });
      const stable = stabilize({
        history: this.#history.get(key) ?? [],
        now,
        windowMs: a.scaleDownDelaySeconds * 1000,
        recommendation,
        current: spec.replicas,
      });
      this.#history.set(key, stable.history);
      desiredReplicas = recommendation;
      if (stable.replicas !== spec.replicas) {
        await this.#custom.patchNamespacedCustomObjectScale(
          {
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
            name,
            body: { spec: { replicas: stable.replicas } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        this.#p.metrics.writes.inc({ kind: 'Scale' });
        await this.#events.record(
          server,
          'Normal',
          stable.replicas > spec.replicas ? 'ScalingUp' : 'ScalingDown',
          `autoscaler: ${spec.replicas} -> ${stable.replicas} servers (recommendation ${recommendation})`,
        );
        desired = stable.replicas;
      }
      // Keep evaluating while stabilising, even when no report arrives.
      this.queue.addAfter(key, 5_000);
    }

    // --- scale-down: drain, then remove exactly the drained pods
    const plan = planScaleDown({
      pods: views,
      desired,
      current: deployment?.spec?.replicas,
      reportsAvailable: builtIn,
    });
    if (fleet) fleet.draining = new Set(plan.draining);

    // --- render and apply
    const rendered = renderChildren({
      server,
      accessKeys: spec.authorization.accessKeysSecretRef
        ? accessKeys
        : accessKeys.accessKey
          ? { accessKey: accessKeys.accessKey }
          : {},
      supervisorSecret: supervisorValues,
      ...(license !== undefined ? { license } : {}),
      deploymentReplicas: plan.deploymentReplicas,
      supervisorUrl: this.#p.supervisorUrl,
      pods: views.map((v) => v.name),
    });
    let failure: string | undefined;
    const previousValid = !found.status?.conditions?.some(
      (c) => c.type === 'ConfigValid' && c.status === 'False',
    );
    if (rendered.errors.length > 0) {
      this.#p.metrics.reconciles.inc({ result: 'invalid' });
      if (previousValid)
        await this.#events.record(
          server,
          'Warning',
          'InvalidConfig',
          rendered.errors
            .map((e) => `${e.path}: ${e.message}`)
            .join('; ')
            .slice(0, 1000),
        );
    } else {
      try {
        for (const object of rendered.objects) await this.#apply(object);
        await this.#markPods(server, pods, plan.draining, plan.removable);
        if (fleet) this.#updateFleet(server, fleet, rendered.objects, rendered.configToml);
        if (!previousValid)
          await this.#events.record(server, 'Normal', 'ConfigValid', 'spec is valid again; rolling out');
        this.#p.metrics.reconciles.inc({ result: 'ok' });
      } catch (error) {
        failure = describe(error);
        throw error;
      } finally {
        await this.#writeStatus(found, server, {
          errors: rendered.errors,
          pods: views,
          deployment,
          draining: plan.draining,
          ...(desiredReplicas !== undefined ? { desiredReplicas } : {}),
          ...(failure ? { failure } : {}),
        });
      }
      return;
    }
    await this.#writeStatus(found, server, {
      errors: rendered.errors,
      pods: views,
      deployment,
      draining: plan.draining,
      ...(desiredReplicas !== undefined ? { desiredReplicas } : {}),
    });
  }

  /**
   * Keys of the fleet for the built-in supervisor, and its members: every pod of the fleet that
   * may call it (terminating ones too: they drain and report), with the address and endpoint
   * computed from the Pod/Service objects (render/endpoint.ts).
   */
  #updateFleet(
    server: DefaultedOdinServer,
    fleet: import('../supervisor/fleet.ts').Fleet,
    objects: KubernetesObject[],
    configToml: string,
  ): void {
    const names = childNames(server.metadata.name);
    const namespace = server.metadata.namespace;
    const supervisorSecret = objects.find(
      (o) => o.kind === 'Secret' && o.metadata?.name === names.supervisorSecret,
    ) as V1Secret | undefined;
    const values = secretValues(supervisorSecret);
    const keyName = server.spec.authorization.accessKeysSecretRef?.name;
    const keySecret = keyName
      ? this.#secretRefs.get(namespace, keyName)
      : (objects.find((o) => o.kind === 'Secret' && o.metadata?.name === names.accessKeySecret) as
          | V1Secret
          | undefined);
    const accessKeys = accessKeysFrom(secretValues(keySecret) as SecretData).jwks;
    if (values.masterKey)
      fleet.credentials = { masterKey: Buffer.from(values.masterKey, 'base64'), accessKeys };
    const config = parseRenderedConfig(configToml);
    const services = this.#services.list(namespace);
    fleet.members = new Map();
    for (const pod of this.#pods.list(namespace)) {
      const podName = pod.metadata?.name;
      const uid = pod.metadata?.uid;
      if (pod.metadata?.labels?.[SERVER_LABEL] !== server.metadata.name || !podName || !uid) continue;
      if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') continue;
      const address = podPublicAddress(server, pod, services);
      const endpoint = address ? podEndpoint(config, address) : undefined;
      fleet.members.set(podName, { uid, ...(address && endpoint ? { address, endpoint } : {}) });
    }
  }

  /** Server-side apply when the cached copy does not carry the same applied hash. */
  async #apply(object: KubernetesObject): Promise<void> {
    const hash = stableJson(object);
    const digest = (await import('node:crypto')).createHash('sha256').update(hash).digest('hex').slice(0, 16);
    const withHash: KubernetesObject = {
      ...object,
      metadata: {
        ...object.metadata,
        annotations: { ...(object.metadata?.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: digest },
      },
    };
    const cached = this.#cached(object);
    if (cached?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === digest) return;
    await this.#objects.patch(
      withHash,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    this.#p.metrics.writes.inc({ kind: object.kind ?? '' });
  }

  #cached(object: KubernetesObject): KubernetesObject | undefined {
    const n = object.metadata?.name ?? '';
    const ns = object.metadata?.namespace;
    switch (object.kind) {
      case 'Deployment':
        return this.#deployments.get(n, ns);
      case 'ConfigMap':
        return this.#configMaps.get(n, ns);
      case 'Service':
        return this.#services.get(n, ns);
      case 'PodDisruptionBudget':
        return this.#pdbs.get(n, ns);
      case 'Secret':
        return this.#secrets.get(n, ns);
      default:
        return undefined;
    }
  }

  /** Draining marks, deletion costs and (LoadBalancer mode) the per-pod label, applied only when they differ. */
  async #markPods(
    server: DefaultedOdinServer,
    pods: V1Pod[],
    draining: string[],
    removable: string[],
  ): Promise<void> {
    const lb = server.spec.networking.mode === 'LoadBalancer';
    for (const pod of pods) {
      const name = pod.metadata!.name!;
      const annotations: Record<string, string> = {};
      if (draining.includes(name)) annotations[DRAINING_ANNOTATION] = 'true';
      if (removable.includes(name)) annotations[DELETION_COST_ANNOTATION] = REMOVABLE_DELETION_COST;
      const labels: Record<string, string> = lb ? { [POD_LABEL]: name } : {};
      const current = pod.metadata?.annotations ?? {};
      const same =
        (current[DRAINING_ANNOTATION] === 'true') === DRAINING_ANNOTATION in annotations &&
        (current[DELETION_COST_ANNOTATION] === REMOVABLE_DELETION_COST) ===
          DELETION_COST_ANNOTATION in annotations &&
        (pod.metadata?.labels?.[POD_LABEL] === name) === lb;
      if (same) continue;
      await this.#objects.patch(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: pod.metadata!.namespace!, annotations, labels },
        },
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
      this.#p.metrics.writes.inc({ kind: 'Pod' });
      if (DRAINING_ANNOTATION in annotations && current[DRAINING_ANNOTATION] !== 'true')
        await this.#events.record(
          server,
          'Normal',
          'Draining',
          `server ${name} drains for a scale-down: no new rooms`,
        );
      if (
        DELETION_COST_ANNOTATION in annotations &&
        current[DELETION_COST_ANNOTATION] !== REMOVABLE_DELETION_COST
      )
        await this.#events.record(server, 'Normal', 'Drained', `server ${name} is empty: removing it`);
    }
  }

  async #writeStatus(
    found: OdinServer,
    server: DefaultedOdinServer,
    input: Omit<Parameters<typeof computeStatus>[0], 'server' | 'now'>,
  ): Promise<void> {
    const status = computeStatus({ ...input, server, now: new Date(this.#now()) }, found.status);
    if (sameStatus(found.status, status)) return;
    await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: server.metadata.namespace,
        plural: PLURAL,
        name: server.metadata.name,
        body: {
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: server.metadata.name, namespace: server.metadata.namespace },
          status,
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    this.#p.metrics.writes.inc({ kind: 'OdinServerStatus' });
  }
}

export function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

function describe(error: unknown): string {
  const e = error as { code?: number; body?: unknown; message?: string };
  const body = typeof e.body === 'string' ? e.body : e.body ? JSON.stringify(e.body) : '';
  return `${e.code ? `HTTP ${e.code}: ` : ''}${e.message ?? String(error)}${body ? ` ${body.slice(0, 500)}` : ''}`;
}
