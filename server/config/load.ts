// Loading: TOML text → env overrides → `[provisioning]` alias → schema (defaults, validation)
// → cross-field checks → file checks. Every stage adds to one list of problems, thrown together
// as a ConfigError, each placed at its file line or naming the env variable that caused it.

import { readFile } from 'node:fs/promises';
import { TomlError } from 'smol-toml';
import { checkDocument, checkFiles } from './checks.ts';
import { applyEnvOverrides } from './env.ts';
import { ConfigError, type ConfigProblem, formatPath, type KeyPath } from './errors.ts';
import { KeyLocator } from './locate.ts';
import { type GridConfig, sectionAliases } from './schema.ts';
import { parseToml } from './toml.ts';
import { type PathProblem, validateDocument } from './validate.ts';

export interface ParseOptions {
  /** Where the text came from, used in messages (the file path). Default `"config.toml"`. */
  source?: string;
  /** Environment for `GRID_*` overrides. Default: none (pass `process.env` explicitly). */
  env?: Record<string, string | undefined>;
  /** Check that certificate and key files exist and parse. Default false: text alone, no I/O. */
  checkFiles?: boolean;
}

export interface LoadOptions {
  path: string;
  env?: Record<string, string | undefined>;
  /** Use this text instead of reading `path` (which then only names the source). */
  text?: string;
  /** Check that certificate and key files exist and parse. Default true: fail at start, not at first use. */
  checkFiles?: boolean;
}

/** Reads, parses and validates a config file; throws ConfigError listing every problem. */
export async function loadConfig(opts: LoadOptions): Promise<GridConfig> {
  let text = opts.text;
  if (text === undefined) {
    try {
      text = await readFile(opts.path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
      throw new ConfigError([
        { source: opts.path, path: '', message: `cannot read the config file: ${why}` },
      ]);
    }
  }
  return parseConfigText(text, {
    source: opts.path,
    ...(opts.env ? { env: opts.env } : {}),
    checkFiles: opts.checkFiles ?? true,
  });
}

/** Parses and validates config text (no I/O unless `checkFiles` asks for the file checks). */
export function parseConfigText(text: string, opts: ParseOptions = {}): GridConfig {
  const source = opts.source ?? 'config.toml';
  const problems: ConfigProblem[] = [];

  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    problems.push({
      source,
      line: e.line,
      column: e.column,
      path: '',
      message: `not valid TOML: ${e.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '')}`,
    });
    // Still report bad GRID_ variables: the operator fixes everything in one round.
    problems.push(...applyEnvOverrides({}, opts.env ?? {}).problems);
    throw new ConfigError(problems);
  }

  const locator = new KeyLocator(text);
  const fileProblems: ConfigProblem[] = [];
  const aliasUsed = new Map<string, string>(); // canonical section → name written in the file
  for (const [alias, canonical] of Object.entries(sectionAliases)) {
    if (!(alias in doc)) continue;
    if (canonical in doc) {
      const pos = locator.locate([alias]);
      fileProblems.push({
        source,
        ...pos,
        path: alias,
        message: `[${alias}] and [${canonical}] are the same section`,
        hint: `keep one of them ([${alias}] is the newer name)`,
      });
      delete doc[alias];
      continue;
    }
    doc[canonical] = doc[alias];
    delete doc[alias];
    aliasUsed.set(canonical, alias);
  }

  const env = applyEnvOverrides(doc, opts.env ?? {});

  const place = (p: PathProblem): ConfigProblem => {
    const extra = p.hint ? { hint: p.hint } : {};
    const byEnv = setByEnv(p.path, env.setBy, locator, aliasUsed);
    if (byEnv) return { source: `env ${byEnv}`, path: formatPath(p.path), message: p.message, ...extra };
    const written = writtenPath(p.path, aliasUsed);
    const pos = locator.locate(written);
    return { source, ...pos, path: formatPath(written), message: p.message, ...extra };
  };

  const checked = checkDocument(doc);
  const explained = new Set(checked.filter((p) => p.supersedesSchema).map((p) => formatPath(p.path)));
  const found = [...validateDocument(doc).filter((p) => !explained.has(formatPath(p.path))), ...checked];
  // The file checks read the document defensively, so they run even when the schema found problems.
  if (opts.checkFiles ?? false) found.push(...checkFiles(doc));
  const placed = [...fileProblems, ...found.map(place)];
  placed.sort(byPlace);
  problems.push(...placed, ...env.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return doc as GridConfig;
}

/** The env variable responsible for a problem at `path`, if any (see the module comment). */
function setByEnv(
  path: KeyPath,
  setBy: Map<string, string>,
  locator: KeyLocator,
  aliasUsed: Map<string, string>,
): string | undefined {
  // The variable set this key or a table containing it.
  for (let n = path.length; n > 0; n--) {
    const name = setBy.get(formatPath(path.slice(0, n)));
    if (name) return name;
  }
  // A problem in a table the file does not write (e.g. a required key missing from a section a
  // variable created) belongs to a variable that set something in that table.
  const written = writtenPath(path, aliasUsed);
  for (let n = path.length - 1; n > 0; n--) {
    if (locator.has(written.slice(0, n))) return undefined;
    const prefix = `${formatPath(path.slice(0, n))}`;
    for (const [p, name] of setBy) if (p.startsWith(`${prefix}.`) || p.startsWith(`${prefix}[`)) return name;
  }
  return undefined;
}

/** The path as the file spells it (`provisioning.url` when the file used the alias). */
function writtenPath(path: KeyPath, aliasUsed: Map<string, string>): KeyPath {
  const alias = typeof path[0] === 'string' ? aliasUsed.get(path[0]) : undefined;
  return alias ? [alias, ...path.slice(1)] : path;
}

function byPlace(a: ConfigProblem, b: ConfigProblem): number {
  const envA = a.source.startsWith('env ') ? 1 : 0;
  const envB = b.source.startsWith('env ') ? 1 : 0;
  if (envA !== envB) return envA - envB;
  return (
    (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) ||
    (a.column ?? 0) - (b.column ?? 0)
  );
}
