/**
 * Drift: a child whose fields differ from what the operator applies, because someone edited it
 * (`kubectl edit configmap`, `kubectl set image`, `kubectl scale deployment`). The applied-hash
 * annotation cannot tell: it survives any edit of the other fields. So the apply step compares
 * the fields the operator sets with the cached object, and re-applies on any difference.
 *
 * Only the operator's own fields count (the desired object is a subset of the stored one):
 * fields the API server defaults, labels and annotations others add (`kubectl rollout restart`
 * stamps one on the pod template), list elements another field manager owns are not drift.
 * Lists of objects are matched by `name` where elements have one (containers, ports, env, volumes:
 * the merge keys of server-side apply), by position otherwise; lists of scalars must be equal.
 * Resource quantities are compared by value: the API server stores `1000m` as `1`.
 */

/** The path of the first field of `want` that `have` does not hold, or undefined. */
export function firstDrift(want: unknown, have: unknown, path = ''): string | undefined {
  if (want === undefined || want === null) return undefined;
  if (Array.isArray(want)) {
    if (!Array.isArray(have)) return path;
    if (want.every((w) => typeof w !== 'object' || w === null)) {
      return want.length === have.length && want.every((w, i) => w === have[i]) ? undefined : path;
    }
    for (let i = 0; i < want.length; i++) {
      const w = want[i] as Record<string, unknown>;
      const named = typeof w?.name === 'string';
      const h = named ? have.find((x) => (x as Record<string, unknown> | null)?.name === w.name) : have[i];
      const drift = firstDrift(w, h, `${path}[${named ? String(w.name) : i}]`);
      if (drift !== undefined) return drift;
    }
    return undefined;
  }
  if (typeof want === 'object') {
    if (typeof have !== 'object' || have === null || Array.isArray(have)) return path;
    for (const [key, value] of Object.entries(want)) {
      const drift = firstDrift(value, (have as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
      if (drift !== undefined) return drift;
    }
    return undefined;
  }
  if (want === have) return undefined;
  if (/\.resources\.(limits|requests)\./.test(path) && sameQuantity(want, have)) return undefined;
  return path;
}

/** Fields of a child the operator compares (apiVersion/kind are absent from listed objects). */
export function ownedFields(object: object): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, ...rest } = object as Record<string, unknown>;
  return rest;
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity (`500m`, `1Gi`, `1e3`) as a number; undefined when it is none. */
export function quantityValue(q: unknown): number | undefined {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return undefined;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(q.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (Number.isNaN(base)) return undefined;
  return m[2] ? base * 10 ** Number(m[2].slice(1)) : base * SUFFIX[m[3] ?? '']!;
}

function sameQuantity(a: unknown, b: unknown): boolean {
  const x = quantityValue(a);
  const y = quantityValue(b);
  return x !== undefined && y !== undefined && Math.abs(x - y) <= Math.abs(x) * 1e-12;
}
