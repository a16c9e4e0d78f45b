/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does:
 * acquire when the Lease is free or expired (renewTime + leaseDurationSeconds in the past),
 * renew every `retryPeriodMs`, give up leadership when a renewal has not succeeded for
 * `renewDeadlineMs`, release (holderIdentity cleared) on shutdown so a successor takes over at
 * once. Updates carry the read resourceVersion: two candidates never both win a round.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';

export type LeaderElectionParams = {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log?: (msg: string) => void;
};

const statusOf = (error: unknown) => (error as { code?: number }).code;

export class LeaderElector {
  readonly #p: Required<Omit<LeaderElectionParams, 'log'>> & Pick<LeaderElectionParams, 'log'>;
  readonly #api: CoordinationV1Api;
  #leading = false;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #round: Promise<void> = Promise.resolve();

  constructor(params: LeaderElectionParams) {
    this.#p = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...params };
    this.#api = params.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#round = this.#tryAcquireOrRenew().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#p.retryPeriodMs);
      });
    };
    tick();
  }

  /** Stops; releases the Lease when leading. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round.catch(() => {});
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.#p.name, namespace: this.#p.namespace });
      if (lease.spec?.holderIdentity === this.#p.identity) {
        lease.spec.holderIdentity = '';
        lease.spec.leaseDurationSeconds = 1;
        await this.#api.replaceNamespacedLease({
          name: this.#p.name,
          namespace: this.#p.namespace,
          body: lease,
        });
      }
    } catch (error) {
      this.#p.log?.(`releasing the lease failed: ${String(error)}`);
    }
    this.#p.onStoppedLeading();
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const { name, namespace, identity } = this.#p;
    const now = new V1MicroTime();
    const durationSeconds = Math.ceil(this.#p.leaseDurationMs / 1000);
    try {
      let lease: V1Lease | undefined;
      try {
        lease = await this.#api.readNamespacedLease({ name, namespace });
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      if (!lease) {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return this.#won();
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expired = renewed + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < Date.now();
      if (holder !== identity && holder !== '' && !expired) return this.#lost();
      const transition = holder !== identity;
      lease.spec = {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        ...(transition ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
      };
      await this.#api.replaceNamespacedLease({ name, namespace, body: lease });
      this.#won();
    } catch (error) {
      // A conflict means someone else wrote first; anything else is an API problem. Either way,
      // a leader keeps leading until its renew deadline passes.
      if (statusOf(error) !== 409) this.#p.log?.(`lease ${namespace}/${name}: ${String(error)}`);
      if (this.#leading && Date.now() - this.#lastRenew > this.#p.renewDeadlineMs) this.#lost();
    }
  }

  #won(): void {
    this.#lastRenew = Date.now();
    if (this.#leading) return;
    this.#leading = true;
    this.#p.log?.(`became the leader (${this.#p.identity})`);
    this.#p.onStartedLeading();
  }

  #lost(): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#p.log?.('lost the leadership');
    this.#p.onStoppedLeading();
  }
}
