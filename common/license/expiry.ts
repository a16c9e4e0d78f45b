/**
 * Watching a licence run out while the server runs (docs/license.md): at `valid_until` the
 * server drains and stops. setTimeout cannot wait longer than 2^31-1 ms (~24.8 days; longer
 * delays fire at once), so long waits are a chain of shorter ones, each re-reading the clock.
 */

/** The longest delay setTimeout honours. */
export const maxTimeoutMs = 2 ** 31 - 1;

export type ExpiryClock = {
  now?: () => number;
  setTimeout?: (callback: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
};

export type LicenseExpiryWatch = {
  /** Cancels the watch; `onExpire` will not be called. */
  cancel(): void;
};

/**
 * Calls `onExpire` once, when `license.validUntil` is reached (at once, asynchronously, if it
 * already has). Timers are unref'd: the watch alone does not keep the process alive.
 */
export function watchLicenseExpiry(
  license: { validUntil: Date },
  onExpire: () => void,
  clock: ExpiryClock = {},
): LicenseExpiryWatch {
  const now = clock.now ?? Date.now;
  const set = clock.setTimeout ?? ((callback: () => void, ms: number) => setTimeout(callback, ms));
  const clear = clock.clearTimeout ?? ((handle: unknown) => clearTimeout(handle as NodeJS.Timeout));
  let handle: unknown;
  let stopped = false;

  const step = () => {
    if (stopped) return;
    const remaining = license.validUntil.getTime() - now();
    if (remaining <= 0) {
      stopped = true;
      onExpire();
      return;
    }
    handle = set(step, Math.min(remaining, maxTimeoutMs));
    (handle as { unref?: () => void } | undefined)?.unref?.();
  };
  handle = set(step, 0);
  (handle as { unref?: () => void } | undefined)?.unref?.();

  return {
    cancel() {
      stopped = true;
      clear(handle);
    },
  };
}
