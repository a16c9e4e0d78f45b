/**
 * What the built-in supervisor knows of one OdinServer's servers: the last `sfu.Report` of each
 * pod, the rooms they host (for sticky placement), tasks waiting for the next report, and the
 * credentials and keys of the fleet. In memory only: a new leader rebuilds it from the next
 * round of reports (docs/operator.md, "Several operator replicas").
 */

import type { OdinJwk } from '../../common/auth/index.ts';
import type { ReportParams } from '../../common/gateway/protocol.ts';
import type { WireTask } from './wire.ts';

/** A server not heard from for this long takes no new rooms (the gateway's 7.5 s rule). */
export const SILENT_AFTER_MS = 7_500;
/** A placement not confirmed by a report is forgotten after this long. */
export const PLACEMENT_TTL_MS = 30_000;

export type ServerEntry = {
  pod: string;
  endpoint: string;
  /** The per-server key (with `d`) it got in sfu.GridConfig, derived from its endpoint. */
  key: OdinJwk;
  report?: ReportParams;
  lastReportAt?: number;
  tasks: WireTask[];
};

export type FleetCredentials = {
  masterKey: Uint8Array;
  /** Public JWKs of the fleet's access keys: client tokens for Connect are checked with them. */
  accessKeys: OdinJwk[];
};

export type PodMember = { uid: string; address?: string; endpoint?: string };

export const roomKey = (namespace: string, roomId: string) => `${namespace}\u0000${roomId}`;

/** What the controller tells a fleet after each reconcile (fleet.update); absent fields stay. */
export type FleetUpdate = {
  /** Pods the controller sees (alive, not terminating); servers of other pods are forgotten. */
  pods?: Iterable<string>;
  /** Pods marked draining for a scale-down: no new rooms. */
  draining?: Iterable<string>;
  credentials?: FleetCredentials;
  /**
   * Pods that may call the internal endpoints (running or terminating: a draining server keeps
   * reporting), by name: their uid (the TokenReview must name it) and, once known, the public
   * address and endpoint the operator computed from the Pod/Service objects (never the caller's).
   */
  members?: ReadonlyMap<string, PodMember>;
};

export class Fleet {
  readonly namespace: string;
  readonly name: string;
  #credentials: FleetCredentials | undefined;
  #pods: ReadonlySet<string> = new Set();
  #draining: ReadonlySet<string> = new Set();
  #members: ReadonlyMap<string, PodMember> = new Map();
  readonly servers = new Map<string, ServerEntry>();
  /** Rooms placed by Connect but not yet reported: room key → pod and when. */
  readonly placements = new Map<string, { pod: string; at: number }>();

  constructor(namespace: string, name: string) {
    this.namespace = namespace;
    this.name = name;
  }

  get credentials(): FleetCredentials | undefined {
    return this.#credentials;
  }
  get pods(): ReadonlySet<string> {
    return this.#pods;
  }
  get draining(): ReadonlySet<string> {
    return this.#draining;
  }
  get members(): ReadonlyMap<string, PodMember> {
    return this.#members;
  }

  /**
   * The controller's view of the fleet, in one call: a new pod set also forgets the servers of
   * pods that are gone and placements that are stale.
   */
  update(change: FleetUpdate, now: number): void {
    if (change.credentials) this.#credentials = change.credentials;
    if (change.draining) this.#draining = new Set(change.draining);
    if (change.members) this.#members = new Map(change.members);
    if (change.pods) {
      this.#pods = new Set(change.pods);
      this.prune(now);
    }
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  /** Servers that report and may take new rooms. */
  candidates(now: number): ServerEntry[] {
    return [...this.servers.values()].filter(
      (s) =>
        s.report !== undefined &&
        s.lastReportAt !== undefined &&
        now - s.lastReportAt < SILENT_AFTER_MS &&
        this.pods.has(s.pod) &&
        !this.draining.has(s.pod) &&
        s.report.load < 1,
    );
  }

  /** The pod hosting a room: a fresh report says so, else a recent placement. */
  hostOf(namespace: string, roomId: string, now: number): ServerEntry | undefined {
    for (const s of this.servers.values()) {
      if (!this.#alive(s, now)) continue;
      if (s.report?.rooms.some((r) => r.id[0] === namespace && r.id[1] === roomId)) return s;
    }
    const placed = this.placements.get(roomKey(namespace, roomId));
    if (placed && now - placed.at < PLACEMENT_TTL_MS) {
      const s = this.servers.get(placed.pod);
      if (s && this.#alive(s, now)) return s;
    }
    return undefined;
  }

  #alive(s: ServerEntry, now: number): boolean {
    return this.pods.has(s.pod) && s.lastReportAt !== undefined && now - s.lastReportAt < SILENT_AFTER_MS;
  }

  /** Forget servers whose pods are gone, and stale placements. */
  prune(now: number): void {
    for (const pod of this.servers.keys()) if (!this.pods.has(pod)) this.servers.delete(pod);
    for (const [room, p] of this.placements) {
      if (now - p.at >= PLACEMENT_TTL_MS || !this.pods.has(p.pod)) this.placements.delete(room);
    }
  }
}

/** Weighted random choice by `1 - load` (the gateway's rule); undefined when nobody can take it. */
export function chooseServer(
  candidates: readonly ServerEntry[],
  random: () => number,
): ServerEntry | undefined {
  const weights = candidates.map((s) => Math.max(0, 1 - (s.report?.load ?? 1)));
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  let pick = random() * total;
  for (let i = 0; i < candidates.length; i++) {
    pick -= weights[i]!;
    if (pick < 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}
