/**
 * The OdinServer controller (controller-runtime's shape): informers on OdinServers and their
 * children feed a keyed work queue; workers run the reconcile of a key (reconciler.ts: observe,
 * autoscale, plan, render, apply, status) while this replica leads.
 *
 * No change, no write: every applied child carries the hash of its desired form
 * (`odin-grid.io/applied-hash`); a child whose cached copy has the same hash is not sent, and
 * status is written only when it differs. A restarted operator therefore writes nothing.
 */
import type {
  KubeConfig,
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import type { OdinJwk } from '../../common/auth/index.ts';
import { applyDefaults } from '../api/defaults.ts';
import { API_VERSION, KIND, type OdinServer } from '../api/types.ts';
import { childNames, SERVER_LABEL } from '../render/labels.ts';
import type { SupervisorServer } from '../supervisor/server.ts';
import { EventRecorder } from './events.ts';
import type { OperatorMetrics } from './health.ts';
import { type Cache, makeCaches, SecretRefs } from './informers.ts';
import { KubeClusterWriter } from './kubeWriter.ts';
import { LicenseExpiryTimers } from './license.ts';
import { describeError, Reconciler } from './reconciler.ts';
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
  /**
   * Every OdinServer is reconciled at least this often (default 5 min), as informers' resync
   * does in controller-runtime: a safety net for a missed watch event; drift is found by the
   * reconcile itself.
   */
  resyncMs?: number;
  /** Settle time of spec changes (Reconciler settleMs; default DEFAULT_SETTLE_MS). */
  settleMs?: number;
  /** A draining Ready server silent this long is removed (default 300 s, scaleDown.ts). */
  silentRemovableMs?: number;
  /** Licence issuer keys the operator trusts and gives the pods (`--license-issuers`). */
  licenseIssuers?: readonly OdinJwk[];
};

export const DEFAULT_SETTLE_MS = 2_000;

export const DEFAULT_RESYNC_MS = 300_000;

export class OdinServerController {
  readonly queue = new WorkQueue();
  readonly #p: ControllerParams;
  readonly #reconciler: Reconciler;
  readonly #servers: Cache<OdinServer>;
  readonly #deployments: Cache<V1Deployment>;
  readonly #configMaps: Cache<V1ConfigMap>;
  readonly #services: Cache<V1Service>;
  readonly #pdbs: Cache<V1PodDisruptionBudget>;
  /** The operator's own Secrets (by label). */
  readonly #secrets: Cache<V1Secret>;
  /** Secrets the OdinServers name (one watch per name, informers.ts). */
  readonly #secretRefs: SecretRefs;
  readonly #pods: Cache<V1Pod>;
  readonly #licenseExpiry = new LicenseExpiryTimers();
  #synced = false;
  #leading = false;
  #workers: Promise<void>[] = [];
  #resync: NodeJS.Timeout | undefined;

  constructor(params: ControllerParams) {
    this.#p = params;
    const kc = params.kubeConfig;
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
    const secretRefs = new SecretRefs(kc, enqueueSecret, (err) =>
      params.log('warn', 'watch of a named Secret failed; restarting', { error: String(err) }),
    );
    this.#secretRefs = secretRefs;
    // Distinct Secrets held: the generated access-key Secret may be in both caches.
    params.metrics.countCachedSecrets = () =>
      new Set([
        ...this.#secrets.list().map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
        ...secretRefs.watched.filter((k) => {
          const [ns = '', n = ''] = k.split('/');
          return secretRefs.get(ns, n) !== undefined;
        }),
      ]).size;
    for (const inf of this.#informers())
      inf.onError((err, restart) => {
        params.log('warn', 'watch failed; restarting', { error: String(err) });
        setTimeout(() => void restart().catch(() => {}), 2000).unref();
      });
    params.supervisor.fleets.clear();
    this.#reconciler = new Reconciler({
      caches: {
        servers: this.#servers,
        deployments: this.#deployments,
        configMaps: this.#configMaps,
        services: this.#services,
        pdbs: this.#pdbs,
        // The Secrets a spec names (their own watches), else the operator's own.
        secrets: {
          get: (n, ns) => (ns !== undefined ? secretRefs.get(ns, n) : undefined) ?? this.#secrets.get(n, ns),
          list: (ns) => this.#secrets.list(ns),
        },
        pods: this.#pods,
      },
      writer: new KubeClusterWriter(kc, params.metrics),
      events: new EventRecorder(kc, params.identity),
      fleets: params.supervisor,
      metrics: params.metrics,
      supervisorUrl: params.supervisorUrl,
      now: params.now ?? Date.now,
      settleMs: params.settleMs ?? DEFAULT_SETTLE_MS,
      ...(params.licenseIssuers ? { licenseIssuers: params.licenseIssuers } : {}),
      onLicenseChecked: (key, check) =>
        this.#licenseExpiry.set(
          key,
          check.state === 'valid' ? check.license.validUntil : undefined,
          (params.now ?? Date.now)(),
          (k) => this.queue.add(k),
        ),
      ...(params.silentRemovableMs !== undefined ? { silentRemovableMs: params.silentRemovableMs } : {}),
    });
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
    this.#resync = setInterval(() => {
      for (const s of this.#servers.list()) this.queue.add(keyOf(s.metadata?.namespace, s.metadata?.name));
    }, this.#p.resyncMs ?? DEFAULT_RESYNC_MS).unref();
  }

  async stop(): Promise<void> {
    this.#leading = false;
    clearInterval(this.#resync);
    this.#licenseExpiry.clear();
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
        this.#p.log('warn', 'reconcile failed; retrying', {
          key,
          delayMs: delay,
          error: describeError(error),
        });
      } finally {
        this.queue.done(key);
      }
    }
  }

  async reconcile(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    await this.#watchNamedSecrets(key, namespace, name);
    const result = await this.#reconciler.reconcile(namespace, name);
    if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
  }
  /**
   * The Secrets an OdinServer's spec names are watched from its first reconcile on (listed
   * before the reconcile reads them) and no longer once no OdinServer names them.
   */
  async #watchNamedSecrets(key: string, namespace: string, name: string): Promise<void> {
    const found = this.#servers.get(name, namespace);
    if (!found || found.metadata?.deletionTimestamp) {
      await this.#secretRefs.forget(key);
      return;
    }
    const { spec } = applyDefaults(found);
    await this.#secretRefs.use(key, namespace, [
      // The generated `<name>-access-key` too, by name: restored by hand after a deletion it
      // carries no managed-by label, and the fleet must see it come back (SecretsReady).
      spec.authorization.accessKeysSecretRef?.name ?? childNames(name).accessKeySecret,
      spec.license?.secretRef.name,
      spec.tls?.secretName,
      spec.telemetry?.credentialsSecretRef?.name,
    ]);
  }
}

export function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}
