// TOML parsing with plain objects: smol-toml builds tables with a null prototype, which
// surprises callers (no hasOwnProperty, deepStrictEqual against `{}` fails).

import { parse } from 'smol-toml';

export function parseToml(text: string): Record<string, unknown> {
  return toPlain(parse(text)) as Record<string, unknown>;
}

function toPlain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  }
  return v;
}
