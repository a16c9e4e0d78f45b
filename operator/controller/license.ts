/**
 * The licence of an OdinServer, verified by the operator exactly as `grid` will verify it
 * (common/license: same parser, same signature check, same expiry), against the issuer keys
 * the operator trusts (`--license-issuers`, the chart's `licenseIssuers`), which it also gives
 * the pods as `GRID_LICENSE_ISSUERS`.
 *
 * Why check in the operator: a pod whose licence is refused exits 4 at start. The controller
 * rolls out nothing while the licence is refused (the pods already running keep theirs) and
 * reports why in the `LicenseValid` condition and a Warning event, instead of crash-looping
 * new pods (docs/operator.md).
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { OdinJwk } from '../../common/auth/index.ts';
import {
  LicenseError,
  type LicenseErrorCode,
  parseLicenseToml,
  type VerifiedLicense,
  verifyLicense,
} from '../../common/license/index.ts';
import type { DefaultedOdinServer } from '../api/types.ts';
import { secretValues } from '../render/secrets.ts';
import type { ExtraCondition } from './status.ts';

export type LicenseCheck =
  /** spec.license is not set: the pods run unlicensed. */
  | { state: 'none' }
  | { state: 'valid'; content: string; license: VerifiedLicense; message: string }
  | { state: 'invalid'; reason: string; message: string };

/** Condition reasons (CamelCase, as Kubernetes conditions spell them) of each refusal. */
const reasons: Record<LicenseErrorCode, string> = {
  not_found: 'SecretNotFound',
  unreadable: 'Unreadable',
  malformed: 'Malformed',
  missing_signature: 'MissingSignature',
  untrusted_issuer: 'UntrustedIssuer',
  bad_signature: 'BadSignature',
  expired: 'Expired',
};

/** The licence of `server`, from its Secret (as the cache holds it), checked at `now`. */
export function checkLicense(input: {
  server: DefaultedOdinServer;
  secret: V1Secret | undefined;
  trustedIssuers: readonly OdinJwk[];
  now: number;
}): LicenseCheck {
  const ref = input.server.spec.license?.secretRef;
  if (ref === undefined) return { state: 'none' };
  const key = ref.key ?? 'license.toml';
  const source = `Secret ${ref.name} key ${key}`;
  if (input.secret === undefined) {
    return {
      state: 'invalid',
      reason: 'SecretNotFound',
      message: `spec.license.secretRef: Secret ${JSON.stringify(ref.name)} does not exist in this namespace`,
    };
  }
  const content = secretValues(input.secret)[key];
  if (content === undefined) {
    return {
      state: 'invalid',
      reason: 'KeyNotFound',
      message: `spec.license.secretRef: Secret ${JSON.stringify(ref.name)} has no key ${JSON.stringify(key)}`,
    };
  }
  try {
    const license = verifyLicense(parseLicenseToml(content, source), input.trustedIssuers, input.now);
    return { state: 'valid', content, license, message: describe(license) };
  } catch (error) {
    if (!(error instanceof LicenseError)) throw error;
    return {
      state: 'invalid',
      reason: reasons[error.code],
      message: error.code === 'untrusted_issuer' ? untrusted(error, input.trustedIssuers) : error.message,
    };
  }
}

function untrusted(error: LicenseError, trusted: readonly OdinJwk[]): string {
  if (trusted.length === 0) {
    return (
      `${error.message}; the operator trusts no licence issuer: set the chart value licenseIssuers ` +
      '(odin-operator --license-issuers) to the issuer public keys'
    );
  }
  return `${error.message}; trusted issuer key ids: ${trusted.map((k) => k.kid).join(', ')}`;
}

function describe(license: VerifiedLicense): string {
  const parts = [
    license.licensee === undefined ? 'licensed' : `licensed to ${license.licensee}`,
    license.serialNumber === undefined ? '' : `serial ${license.serialNumber}`,
    `issuer key ${license.keyId}`,
  ];
  const until =
    license.validUntil === undefined ? 'no expiry' : `valid until ${license.validUntil.toISOString()}`;
  return `${parts.filter(Boolean).join(', ')}, ${until}`;
}

/** The longest wait armed at once: setTimeout cannot wait past 2^31-1 ms; a day is plenty. */
const MAX_WAIT_MS = 86_400_000;

/**
 * Re-reconciles an OdinServer when its licence expires, so the condition turns to `Expired`
 * even when nothing else happens. Its own timers: the work queue keeps one delayed add per
 * key, and a long one there would hold back the short status refreshes.
 */
export class LicenseExpiryTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>();

  /** Arms (or re-arms) `key` to be added at `validUntil` (+1 s), or cancels it for `undefined`. */
  set(key: string, validUntil: Date | undefined, now: number, add: (key: string) => void): void {
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    if (validUntil === undefined) return;
    const wait = Math.min(MAX_WAIT_MS, Math.max(0, validUntil.getTime() - now + 1_000));
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      add(key);
    }, wait);
    timer.unref();
    this.#timers.set(key, timer);
  }

  clear(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

/**
 * The `LicenseValid` condition of a check (none without spec.license). A refused licence
 * degrades the fleet and blocks the rollout: a pod would exit 4 with it.
 */
export function licenseCondition(check: LicenseCheck): ExtraCondition | undefined {
  if (check.state === 'none') return undefined;
  return check.state === 'valid'
    ? { type: 'LicenseValid', ok: true, reason: 'LicenseValid', message: check.message }
    : {
        type: 'LicenseValid',
        ok: false,
        reason: check.reason,
        message: check.message,
        degrades: true,
        blocksRolloutAs: 'LicenseInvalid',
      };
}
