/**
 * Step 1 of a reconcile, observe: the world of one OdinServer as the caches and the built-in
 * supervisor see it. Pure (reads only).
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { applyDefaults } from '../api/defaults.ts';
import type { DefaultedOdinServer, OdinServer } from '../api/types.ts';
import { type PodView, REMOVABLE_DELETION_COST } from '../autoscale/scaleDown.ts';
import { childNames, DELETION_COST_ANNOTATION, DRAINING_ANNOTATION, SERVER_LABEL } from '../render/labels.ts';
import { type SecretData, secretValues } from '../render/secrets.ts';
import { type ServerEntry, SILENT_AFTER_MS } from '../supervisor/fleet.ts';
import type { Caches } from './caches.ts';

/** A grid pod as status and the scale-down plan see it. */
export type ServerView = PodView & { address?: string; reporting: boolean };

export type Observation = {
  /** The object as stored (its status is the previous status). */
  found: OdinServer;
  /** With defaults applied. */
  server: DefaultedOdinServer;
  /** Values of the access-keys Secret (the user's, or our generated one). */
  accessKeys: SecretData;
  /** Values of `<name>-supervisor`. */
  supervisorSecret: SecretData;
  /** Content of the licence, when spec.license names one that exists. */
  license?: string;
  deployment: V1Deployment | undefined;
  /** The fleet's pods: alive (not terminating, not finished). */
  pods: V1Pod[];
  /** Whether the built-in supervisor serves this fleet (so reports exist). */
  builtIn: boolean;
};

/** undefined: the OdinServer is gone or being deleted (its children are garbage-collected). */
export function observe(caches: Caches, namespace: string, name: string): Observation | undefined {
  const found = caches.servers.get(name, namespace);
  if (!found || found.metadata?.deletionTimestamp) return undefined;
  const server = applyDefaults(found);
  const { spec } = server;
  const names = childNames(name);
  const secret = (n: string) => caches.secrets.get(n, namespace);
  const keySecretName = spec.authorization.accessKeysSecretRef?.name ?? names.accessKeySecret;
  const licenseSecret = spec.license ? secret(spec.license.secretRef.name) : undefined;
  const license = licenseSecret
    ? secretValues(licenseSecret)[spec.license!.secretRef.key ?? 'license.toml']
    : undefined;
  const pods = caches.pods
    .list(namespace)
    .filter(
      (p) =>
        p.metadata?.labels?.[SERVER_LABEL] === name &&
        !p.metadata?.deletionTimestamp &&
        p.status?.phase !== 'Failed' &&
        p.status?.phase !== 'Succeeded',
    );
  return {
    found,
    server,
    accessKeys: secretValues(secret(keySecretName)),
    supervisorSecret: secretValues(secret(names.supervisorSecret)),
    ...(license !== undefined ? { license } : {}),
    deployment: caches.deployments.get(names.deployment, namespace),
    pods,
    builtIn: spec.supervisor.mode === 'BuiltIn',
  };
}

/** Each pod with its last report (from the built-in supervisor; a silent server has none). */
export function serverViews(
  pods: readonly V1Pod[],
  entryOf: (pod: string) => ServerEntry | undefined,
  now: number,
): ServerView[] {
  return pods.map((p) => {
    const podName = p.metadata!.name!;
    const entry = entryOf(podName);
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
}
