// Secrets never reach logs: `redactConfig` is what the server prints for "effective config".

import type { GridConfig } from './schema.ts';

export const REDACTED = '<redacted>';

/** A deep copy of the config with JWK seeds and URL passwords replaced by "<redacted>". */
export function redactConfig(config: GridConfig): GridConfig {
  const copy = structuredClone(config);
  for (const key of copy.authorization?.keys ?? []) {
    if (key.d !== undefined) key.d = REDACTED;
  }
  if (copy.supervisor) copy.supervisor.url = redactUrl(copy.supervisor.url);
  if (copy.telemetry) copy.telemetry.address = redactUrl(copy.telemetry.address);
  return copy;
}

/**
 * `http://user:secret@host/x` → `http://user:<redacted>@host/x`. Works on the text rather
 * than through `URL`, whose setters would percent-encode the marker and normalise the rest.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/i, `$1${REDACTED}@`);
}
