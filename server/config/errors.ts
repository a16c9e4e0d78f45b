// Config errors: every problem names its source (file or env variable), line, key path and,
// where we can guess it, the fix. A load collects all problems and throws them together, so an
// operator fixes a config in one round instead of one error per restart.

export interface ConfigProblem {
  /** The config file path, `"env GRID_X"` for an environment override, or `"<text>"`. */
  source: string;
  line?: number;
  column?: number;
  /** Key path as written by the user, e.g. `http.binding` or `authorization.keys[0].x`; `""` = document. */
  path: string;
  message: string;
  hint?: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** `config.toml:12:1: http.bindng: unknown key; did you mean "binding"?` */
export function formatProblem(p: ConfigProblem): string {
  let where = p.source;
  if (p.line !== undefined) where += `:${p.line}`;
  if (p.line !== undefined && p.column !== undefined) where += `:${p.column}`;
  const path = p.path === '' ? '' : `${p.path}: `;
  const hint = p.hint ? `; ${p.hint}` : '';
  return `${where}: ${path}${p.message}${hint}`;
}

/** A key path as segments: names and array indices. */
export type KeyPath = readonly (string | number)[];

/** `["authorization", "keys", 0, "x"]` → `authorization.keys[0].x` */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** `did you mean "binding"?` for the closest candidate, or undefined when nothing is close. */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // Close enough to be a typo: a couple of edits, more for long names (`webrtc_nack_buffer_log2`).
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== undefined && bestDistance <= limit ? `did you mean "${best}"?` : undefined;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two letters counts as one edit. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number) => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}
