/**
 * Secrets the operator generates: the access key (when spec.authorization names none) and the
 * built-in supervisor's master key (the per-server keys are derived from it; pods authenticate
 * with their own ServiceAccount tokens, not a shared password). Generated once: when the Secret exists its values are kept, so
 * rendering is deterministic given the cluster's state.
 */
import { randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { accessKeyToJwk, generateAccessKey, type OdinJwk, publicJwk } from '../../common/auth/index.ts';
import type { DefaultedOdinServer, FieldError } from '../api/types.ts';
import { childNames, commonLabels, generatedSecretNames, ownerReference } from './labels.ts';

export type SecretData = Record<string, string>;

const decode = (data: Record<string, string> | undefined): SecretData =>
  Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );

/** A Secret's values as text. */
export function secretValues(secret: V1Secret | undefined): SecretData {
  return { ...decode(secret?.data), ...(secret?.stringData ?? {}) };
}

function secret(server: DefaultedOdinServer, name: string, values: SecretData): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: server.metadata.namespace,
      labels: commonLabels(server),
      ownerReferences: [ownerReference(server)],
    },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

export function renderAccessKeySecret(server: DefaultedOdinServer, existing: SecretData): V1Secret {
  const accessKey = existing.accessKey ?? generateAccessKey();
  return secret(server, childNames(server.metadata.name).accessKeySecret, { accessKey });
}

export function renderSupervisorSecret(server: DefaultedOdinServer, existing: SecretData): V1Secret {
  return secret(server, childNames(server.metadata.name).supervisorSecret, {
    masterKey: existing.masterKey ?? randomBytes(32).toString('base64'),
  });
}

/** Key of the licence in `<name>-verified-license`, and the file name in the pod. */
export const VERIFIED_LICENSE_KEY = 'license.toml';

/**
 * The licence the pods mount: a copy of the user's licence Secret, written only while the
 * operator accepts that licence (controller/license.ts). A licence edited into one that is
 * refused then never reaches a pod: the copy keeps the last accepted one, so a pod that
 * restarts meanwhile (node reboot, OOM kill) starts with it instead of exiting 4 and
 * crash-looping (it would read the refused licence if it mounted the user's Secret).
 */
export function renderVerifiedLicenseSecret(server: DefaultedOdinServer, content: string): V1Secret {
  return secret(server, childNames(server.metadata.name).verifiedLicenseSecret, {
    [VERIFIED_LICENSE_KEY]: content,
  });
}

/**
 * A spec's Secret references that name a Secret the operator writes for this OdinServer: the
 * operator would overwrite the user's Secret (or mount its own copy as the user's), so each is
 * a field error.
 */
export function generatedSecretClashes(server: DefaultedOdinServer): FieldError[] {
  const generated = new Set(generatedSecretNames(server.metadata.name));
  const { spec } = server;
  const refs: [string, string | undefined][] = [
    ['spec.authorization.accessKeysSecretRef.name', spec.authorization.accessKeysSecretRef?.name],
    ['spec.license.secretRef.name', spec.license?.secretRef.name],
    ['spec.tls.secretName', spec.tls?.secretName],
    [
      'spec.supervisor.external.credentialsSecretRef.name',
      spec.supervisor.external?.credentialsSecretRef?.name,
    ],
    ['spec.telemetry.credentialsSecretRef.name', spec.telemetry?.credentialsSecretRef?.name],
  ];
  return refs
    .filter(([, name]) => name !== undefined && generated.has(name))
    .map(([path, name]) => ({
      path,
      message: `names ${JSON.stringify(name)}, a Secret the operator generates for this OdinServer; use another name`,
    }));
}

/** Access keys of a keys Secret: every value that parses as one. Bad values are named (never shown). */
export function accessKeysFrom(values: SecretData): { keys: string[]; jwks: OdinJwk[]; problems: string[] } {
  const keys: string[] = [];
  const jwks: OdinJwk[] = [];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values).sort(([a], [b]) => a.localeCompare(b))) {
    try {
      jwks.push(publicJwk(accessKeyToJwk(value.trim())));
      keys.push(value.trim());
    } catch {
      problems.push(`key ${JSON.stringify(name)} is not an ODIN access key`);
    }
  }
  return { keys, jwks, problems };
}
