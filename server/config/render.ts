// Config → TOML text, for the operator (which renders the exact file a pod reads) and for
// `sfu.GridConfig` (which sends the server's own config to the supervisor). Rendering a loaded
// config and loading it again gives the same config (see test/config/render.test.ts).

import { stringify } from 'smol-toml';
import type { GridConfig } from './schema.ts';

/** A full config, or any partial one (an operator's overlay); `undefined` keys are left out. */
export type RenderableConfig = GridConfig | DeepPartial<GridConfig>;

type DeepPartial<T> = T extends readonly (infer U)[]
  ? DeepPartial<U>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export function renderConfigToml(config: RenderableConfig): string {
  return stringify(dropUndefined(config) as Record<string, unknown>);
}

function dropUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropUndefined);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, dropUndefined(x)]),
    );
  }
  return v;
}
