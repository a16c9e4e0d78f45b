/**
 * Which access keys an OdinServer's fleet serves with, and what is wrong with the Secrets its
 * spec names (status condition `SecretsReady`). Pure.
 *
 * A lost access-key Secret never rotates the key: every token the game backend signs would be
 * refused and every pod would roll. The operator generates a key only for a new OdinServer (no
 * children yet). When the Secret is gone from a running fleet, it keeps serving with the public
 * keys its servers have (from the rendered config.toml) and says so; the user restores the
 * Secret, or creates it with a new key to rotate on purpose.
 */
import type { OdinJwk } from '../../common/auth/index.ts';
import type { FieldError } from '../api/types.ts';
import { childNames } from '../render/labels.ts';
import type { Observation } from './observe.ts';

/** A Secret the spec needs that is missing or unusable: the reason and what to do. */
export type SecretProblem = { reason: string; message: string };

export type KeyPlan = {
  /** Serve with these public keys and render no key Secret (the Secret is gone). */
  keptPublicKeys?: OdinJwk[];
  /** Nothing can be rendered: the fleet's keys are unknown. */
  error?: FieldError;
};

export function planKeys(o: Observation): KeyPlan {
  if (o.secrets.accessKeys) return {};
  const { server } = o;
  const ref = server.spec.authorization.accessKeysSecretRef;
  if (o.servedKeys.length > 0 && (o.rendered || ref)) return { keptPublicKeys: o.servedKeys };
  if (ref)
    return {
      error: {
        path: 'spec.authorization.accessKeysSecretRef',
        message: `Secret ${server.metadata.namespace}/${ref.name} does not exist; create it with ODIN access keys as values`,
      },
    };
  if (!o.rendered) return {}; // a new OdinServer: generate its key
  return {
    error: {
      path: 'spec.authorization',
      message:
        `the generated Secret ${childNames(server.metadata.name).accessKeySecret} and the rendered config are gone, ` +
        'so the key the servers have is unknown; restore the Secret (key "accessKey") from your game backend, ' +
        'or create it with a new key (`grid keys new`) to rotate',
    },
  };
}

/** Every Secret the spec needs that is missing, each with a reason a user can act on. */
export function secretProblems(o: Observation, keys: KeyPlan): SecretProblem[] {
  const { server } = o;
  const ns = server.metadata.namespace;
  const problems: SecretProblem[] = [];
  const ref = server.spec.authorization.accessKeysSecretRef;
  if (!o.secrets.accessKeys && (ref || keys.keptPublicKeys || keys.error)) {
    const name = ref?.name ?? childNames(server.metadata.name).accessKeySecret;
    const what = ref ? 'spec.authorization.accessKeysSecretRef' : 'the generated access key';
    problems.push({
      reason: ref ? 'AccessKeysSecretMissing' : 'AccessKeySecretMissing',
      message: keys.keptPublicKeys
        ? `Secret ${ns}/${name} (${what}) is gone; the servers keep the key they have and new tokens signed ` +
          `with it still work. Restore the Secret${ref ? '' : ' (key "accessKey")'} with that key from your game ` +
          'backend; the operator never generates a new key for a running fleet (create the Secret with a new key to rotate)'
        : `Secret ${ns}/${name} (${what}) does not exist; ${keys.error?.message ?? 'create it'}`,
    });
  }
  if (o.secrets.tls === false)
    problems.push({
      reason: 'TLSSecretMissing',
      message:
        `Secret ${ns}/${server.spec.tls!.secretName} (spec.tls.secretName) does not exist: new pods cannot start ` +
        'until it does; create a kubernetes.io/tls Secret with tls.crt and tls.key',
    });
  if (o.secrets.license === false)
    problems.push({
      reason: 'LicenseSecretMissing',
      message:
        `Secret ${ns}/${server.spec.license!.secretRef.name} (spec.license.secretRef) does not exist: new pods ` +
        'cannot start until it does',
    });
  return problems;
}
