/**
 * Step 4 of a reconcile, render: the children the OdinServer should have
 * (operator/render/), each stamped with the hash of its desired form
 * (`odin-grid.io/applied-hash`), which the apply step compares with the cached copy.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ScaleDownPlan } from '../autoscale/scaleDown.ts';
import { type Rendered, renderChildren } from '../render/index.ts';
import { APPLIED_HASH_ANNOTATION } from '../render/labels.ts';
import type { KeyPlan } from './keys.ts';
import type { Observation, ServerView } from './observe.ts';
import { stableJson } from './status.ts';

/** Hash of a child's desired form (before the annotation is added). */
export function appliedHash(object: KubernetesObject): string {
  return createHash('sha256').update(stableJson(object)).digest('hex').slice(0, 16);
}

export function withAppliedHash(object: KubernetesObject): KubernetesObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: {
        ...(object.metadata?.annotations ?? {}),
        [APPLIED_HASH_ANNOTATION]: appliedHash(object),
      },
    },
  };
}

export function render(params: {
  observation: Observation;
  views: readonly ServerView[];
  plan: ScaleDownPlan;
  /** Which access keys to serve with (keys.ts). */
  keys: KeyPlan;
  supervisorUrl: string;
  /** The licence to mount: only one the operator verified (license.ts); none otherwise. */
  license?: string;
  /** Trusted licence issuer public keys (`x`), given to pods with a licence. */
  licenseIssuers?: readonly string[];
}): Rendered {
  const { server, accessKeys, supervisorSecret } = params.observation;
  const { license } = params;
  const rendered = renderChildren({
    server,
    // Our generated Secret holds exactly one key, `accessKey`: anything else in it is ignored.
    accessKeys: server.spec.authorization.accessKeysSecretRef
      ? accessKeys
      : accessKeys.accessKey
        ? { accessKey: accessKeys.accessKey }
        : {},
    supervisorSecret,
    ...(license !== undefined ? { license } : {}),
    ...(params.licenseIssuers ? { licenseIssuers: params.licenseIssuers } : {}),
    deploymentReplicas: params.plan.deploymentReplicas,
    supervisorUrl: params.supervisorUrl,
    pods: params.views.map((v) => v.name),
    ...(params.keys.keptPublicKeys ? { keptPublicKeys: params.keys.keptPublicKeys } : {}),
  });
  if (params.keys.error) return { ...rendered, errors: [params.keys.error, ...rendered.errors], objects: [] };
  return { ...rendered, objects: rendered.objects.map(withAppliedHash) };
}
