/**
 * renderChildren(): the whole desired state of one OdinServer, from the object and what the
 * cluster holds (Secret values, the pods). Pure: same input, same objects. An invalid spec
 * renders nothing but its field errors (the controller then rolls out nothing).
 */
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import type { OdinJwk } from '../../common/auth/index.ts';
import type { DefaultedOdinServer, FieldError } from '../api/types.ts';
import { validateSpec } from '../api/validate.ts';
import { configHash, renderGridConfig } from './config.ts';
import { childNames, commonLabels, ownerReference } from './labels.ts';
import { renderHeadlessService, renderPdb, renderPodServices } from './network.ts';
import {
  accessKeysFrom,
  generatedSecretClashes,
  renderAccessKeySecret,
  renderSupervisorSecret,
  renderVerifiedLicenseSecret,
  type SecretData,
} from './secrets.ts';
import { renderDeployment } from './workload.ts';

export type RenderInput = {
  server: DefaultedOdinServer;
  /** Values of the user's access-keys Secret, or of our generated one (empty: generate). */
  accessKeys: SecretData;
  /**
   * The access keys' Secret is gone but the fleet runs: serve with these public keys (the ones
   * its servers have, from the rendered config.toml) and render no access-key Secret, so a lost
   * Secret never rotates the key (controller/keys.ts decides).
   */
  keptPublicKeys?: readonly OdinJwk[];
  /** Values of `<name>-supervisor` as it exists (empty: generate). */
  supervisorSecret: SecretData;
  /**
   * Content of the licence, only one the operator verified (hashed: a new licence rolls the
   * pods). Rendered into `<name>-verified-license`, which the pods mount.
   */
  license?: string;
  /** Trusted licence issuer public keys (`x`), given to pods with a licence as `GRID_LICENSE_ISSUERS`. */
  licenseIssuers?: readonly string[];
  /** Replicas for the Deployment (autoscale/scaleDown.ts decides; spec.replicas when nothing drains). */
  deploymentReplicas: number;
  supervisorUrl: string;
  /** Names of the grid pods (for per-pod Services). */
  pods: readonly string[];
};

export type Rendered = {
  errors: FieldError[];
  /** Public JWKs of the access keys in config.toml (what Connect checks client tokens with). */
  publicKeys: OdinJwk[];
  objects: KubernetesObject[];
  configToml: string;
  configHash: string;
};

export function renderChildren(input: RenderInput): Rendered {
  const { server } = input;
  const names = childNames(server.metadata.name);
  const userKeys = server.spec.authorization.accessKeysSecretRef !== undefined;
  const kept = input.keptPublicKeys;
  const keySecret = userKeys || kept ? undefined : renderAccessKeySecret(server, input.accessKeys);
  const keys = kept
    ? { jwks: [...kept], problems: [] }
    : accessKeysFrom(
        keySecret
          ? { accessKey: Buffer.from(keySecret.data!.accessKey!, 'base64').toString('utf8') }
          : input.accessKeys,
      );
  const errors: FieldError[] = [...validateSpec(server), ...generatedSecretClashes(server)];
  for (const problem of keys.problems)
    errors.push({ path: 'spec.authorization.accessKeysSecretRef', message: problem });
  if (userKeys && keys.jwks.length === 0 && keys.problems.length === 0)
    errors.push({
      path: 'spec.authorization.accessKeysSecretRef',
      message: 'the Secret holds no access key',
    });
  const config = renderGridConfig(server, keys.jwks);
  errors.push(...config.errors);
  if (errors.length > 0)
    return { errors, publicKeys: keys.jwks, objects: [], configToml: config.toml, configHash: '' };

  // The TCP webrtc port counts as config: turning it on (or an operator upgrade that adds it)
  // then rolls the pods the conversation-safe way (controller/rollout.ts holds old servers with
  // rooms on a hash change; other template changes would SIGTERM them). Only when on, so fleets
  // without it keep their hash.
  const hash = configHash([
    config.toml,
    input.license ?? '',
    server.spec.tls?.secretName ?? '',
    ...(server.spec.networking.webrtcTcp ? ['webrtc-tcp'] : []),
  ]);
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: names.configMap,
      namespace: server.metadata.namespace,
      labels: commonLabels(server),
      ownerReferences: [ownerReference(server)],
    },
    data: { 'config.toml': config.toml },
  };
  const objects: KubernetesObject[] = [];
  if (keySecret) objects.push(keySecret);
  if (server.spec.supervisor.mode === 'BuiltIn')
    objects.push(renderSupervisorSecret(server, input.supervisorSecret));
  if (server.spec.license && input.license !== undefined)
    objects.push(renderVerifiedLicenseSecret(server, input.license));
  objects.push(
    configMap,
    renderDeployment({
      server,
      configHash: hash,
      licenseIssuers: input.licenseIssuers ?? [],
      replicas: input.deploymentReplicas,
      supervisorUrl: input.supervisorUrl,
    }),
    renderHeadlessService(server),
    ...renderPodServices(server, input.pods),
    renderPdb(server),
  );
  return { errors: [], publicKeys: keys.jwks, objects, configToml: config.toml, configHash: hash };
}

/** Every problem: the spec's (api/validate.ts) and the rendered config.toml's. */
export function validate(server: DefaultedOdinServer, publicKeys: readonly OdinJwk[] = []): FieldError[] {
  return [
    ...validateSpec(server),
    ...generatedSecretClashes(server),
    ...renderGridConfig(server, publicKeys).errors,
  ];
}
