/**
 * Step 1 of a reconcile, observe: the world of one OdinServer as the caches and the built-in
 * supervisor see it. Pure (reads only).
 */
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { parse } from 'smol-toml';
import type { OdinJwk } from '../../common/auth/index.ts';
import { applyDefaults } from '../api/defaults.ts';
import type { DefaultedOdinServer, OdinServer } from '../api/types.ts';
import { type PodView, REMOVABLE_DELETION_COST } from '../autoscale/scaleDown.ts';
import { childNames, DELETION_COST_ANNOTATION, DRAINING_ANNOTATION, SERVER_LABEL } from '../render/labels.ts';
import { type SecretData, secretValues } from '../render/secrets.ts';
import { type ServerEntry, SILENT_AFTER_MS } from '../supervisor/fleet.ts';
import type { Caches } from './caches.ts';

/** A grid pod as status and the scale-down plan see it. */
export type ServerView = PodView & {
  address?: string;
  reporting: boolean;
  /** The scheduler's message when the pod cannot be placed on any node. */
  unschedulable?: string;
};

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
  /** Which Secrets the spec needs exist (undefined: the spec names none of that kind). */
  secrets: { accessKeys: boolean; tls?: boolean; license?: boolean };
  /** Public access keys in the config.toml this OdinServer's servers run with (its cached ConfigMap). */
  servedKeys: OdinJwk[];
  /** Children of this OdinServer exist already (it is not new): a lost key must not be regenerated. */
  rendered: boolean;
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
  const ours = (o: KubernetesObject | undefined) =>
    o?.metadata?.ownerReferences?.some((r) => r.uid === found.metadata?.uid) === true;
  const configMap = caches.configMaps.get(names.configMap, namespace);
  const deployment = caches.deployments.get(names.deployment, namespace);
  const tls = spec.tls ? secret(spec.tls.secretName) : undefined;
  return {
    found,
    server,
    accessKeys: secretValues(secret(keySecretName)),
    secrets: {
      accessKeys: secret(keySecretName) !== undefined,
      ...(spec.tls ? { tls: tls !== undefined } : {}),
      ...(spec.license ? { license: licenseSecret !== undefined } : {}),
    },
    servedKeys: ours(configMap) ? publicKeysIn(configMap?.data?.['config.toml']) : [],
    rendered: ours(configMap) || ours(deployment),
    supervisorSecret: secretValues(secret(names.supervisorSecret)),
    ...(license !== undefined ? { license } : {}),
    deployment,
    pods,
    builtIn: spec.supervisor.mode === 'BuiltIn',
  };
}

/** The public keys of `[authorization] keys` in a rendered config.toml (none when it does not parse). */
export function publicKeysIn(toml: string | undefined): OdinJwk[] {
  if (!toml) return [];
  try {
    const keys = (parse(toml) as { authorization?: { keys?: unknown } }).authorization?.keys;
    if (!Array.isArray(keys)) return [];
    return keys
      .filter(
        (k): k is Record<string, unknown> =>
          typeof k === 'object' && k !== null && typeof k.kid === 'string' && typeof k.x === 'string',
      )
      .map((k) => ({ kid: k.kid as string, kty: 'OKP', crv: 'Ed25519', x: k.x as string }));
  } catch {
    return [];
  }
}

/**
 * Each pod with its last report (from the built-in supervisor; a silent server has none) and
 * how long it has been silent: since its last report, else since it was created, and never
 * longer than the supervisor has been listening (`since`: a new leader hears every server only
 * after one report interval).
 */
export function serverViews(
  pods: readonly V1Pod[],
  entryOf: (pod: string) => ServerEntry | undefined,
  now: number,
  since = Number.NEGATIVE_INFINITY,
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
    const createdAt = new Date(p.metadata?.creationTimestamp ?? 0).getTime();
    const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const unschedulable =
      scheduled?.status === 'False' && scheduled.reason === 'Unschedulable'
        ? (scheduled.message ?? 'no node fits')
        : undefined;
    return {
      name: podName,
      ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      createdAt,
      draining: p.metadata?.annotations?.[DRAINING_ANNOTATION] === 'true',
      markedRemovable: p.metadata?.annotations?.[DELETION_COST_ANNOTATION] === REMOVABLE_DELETION_COST,
      ...(report ? { report } : {}),
      ...(reporting ? {} : { silentForMs: now - Math.max(entry?.lastReportAt ?? createdAt, since) }),
      ...(entry ? { address: entry.endpoint } : {}),
      reporting,
      ...(unschedulable !== undefined ? { unschedulable } : {}),
    };
  });
}
