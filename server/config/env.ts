// Environment overrides, in the spirit of the official ODIN image's `GRID_*` variables.
//
// The rule: a key's variable is `GRID_` + its path with `.` replaced by `_`, uppercased:
//   public_address                     → GRID_PUBLIC_ADDRESS
//   http.binding                       → GRID_HTTP_BINDING
//   limit.peer.medias                  → GRID_LIMIT_PEER_MEDIAS
//   limit.network.incoming_media_packets → GRID_LIMIT_NETWORK_INCOMING_MEDIA_PACKETS='{rate=100,capacity=200}'
//   limit.peer.incoming_messages.rate  → GRID_LIMIT_PEER_INCOMING_MESSAGES_RATE
// Names are matched against the table of every key path the schema knows, so underscores
// inside key names are never ambiguous (a collision would fail at module load, see below).
// `[supervisor]` keys are also reachable as `GRID_PROVISIONING_*`.
// Values are parsed by the key's schema type: integers, `true`/`false`, arrays as
// comma-separated items or a TOML inline array, tables as TOML inline tables (a whole table,
// even a section like `GRID_QUIC='{}'`, replaces the file's table); strings verbatim.
// An empty value counts as unset (templating tools emit empty variables for "no value").
// A variable may create a section the file lacks: that is how an operator enables `[quic]` or
// `[metrics]` for a pod. Variables apply after the file and before validation, so their values
// are validated (and their errors name the variable) like the file's.

import { type ConfigProblem, didYouMean, formatPath, type KeyPath } from './errors.ts';
import { formatHostPort, parseHostPort } from './formats.ts';
import { asNode, configSchema, type SchemaNode, sectionAliases } from './schema.ts';
import { parseToml } from './toml.ts';

/** `GRID_*` variables that are not config keys (read elsewhere); they never cause an error. */
export const nonConfigEnvVars: readonly string[] = [
  'GRID_CONFIG', // path of config.toml (server/cli/effectiveConfig.ts)
  'GRID_LICENSE', // path of license.toml (server/cli/effectiveLicense.ts)
  'GRID_LICENSE_ISSUERS', // trusted licence issuer keys (server/cli/effectiveLicense.ts)
  'GRID_PORTS_FILE', // listener ports assigned from outside (server/cli/portsFile.ts)
];

/** The official image's convenience variables: each sets the port of one binding. */
export const portEnvVars: Readonly<Record<string, KeyPath>> = {
  GRID_QUIC_PORT: ['quic', 'binding'],
  GRID_HTTP_PORT: ['http', 'binding'],
  GRID_HTTP_WEBRTC_PORT: ['http', 'webrtc_binding'],
  GRID_METRICS_PORT: ['metrics', 'binding'],
};

interface EnvKey {
  path: KeyPath;
  node: SchemaNode;
}

/** The variable name for a key path (the rule above). */
export function envVarName(path: KeyPath): string {
  return `GRID_${path.map(String).join('_').toUpperCase()}`;
}

/** Every variable the schema defines, for the env rule and the docs. */
export const configEnvVars: ReadonlyMap<string, EnvKey> = buildEnvTable();

function buildEnvTable(): Map<string, EnvKey> {
  const table = new Map<string, EnvKey>();
  const add = (name: string, key: EnvKey) => {
    const clash = table.get(name);
    if (clash)
      throw new Error(
        `env rule is ambiguous: ${name} names ${formatPath(clash.path)} and ${formatPath(key.path)}`,
      );
    table.set(name, key);
  };
  const walk = (node: SchemaNode, path: string[]) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const childPath = [...path, key];
      add(envVarName(childPath), { path: childPath, node: child });
      for (const [alias, target] of Object.entries(sectionAliases)) {
        if (childPath[0] === target)
          add(envVarName([alias, ...childPath.slice(1)]), { path: childPath, node: child });
      }
      if (child.type === 'object' && child.properties) walk(child, childPath);
    }
  };
  walk(asNode(configSchema), []);
  for (const name of Object.keys(portEnvVars)) {
    if (table.has(name)) throw new Error(`env rule is ambiguous: ${name} is a key and a port variable`);
  }
  return table;
}

export interface EnvOverrideResult {
  problems: ConfigProblem[];
  /** Formatted key path → the variable that set it, so later problems can name the variable. */
  setBy: Map<string, string>;
}

/**
 * Applies `GRID_*` overrides onto a parsed (and alias-normalised) document, in place.
 * Unknown `GRID_*` variables and unparsable values are problems naming the variable.
 */
export function applyEnvOverrides(
  doc: Record<string, unknown>,
  env: Record<string, string | undefined>,
): EnvOverrideResult {
  const problems: ConfigProblem[] = [];
  const setBy = new Map<string, string>();
  const keyVars: [string, EnvKey, string][] = [];
  const portVars: [string, KeyPath, string][] = [];

  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('GRID_') || value === undefined || value === '') continue;
    if (nonConfigEnvVars.includes(name)) continue;
    const key = configEnvVars.get(name);
    const port = portEnvVars[name];
    if (key) keyVars.push([name, key, value]);
    else if (port) portVars.push([name, port, value]);
    else {
      const candidates = [...configEnvVars.keys(), ...Object.keys(portEnvVars), ...nonConfigEnvVars];
      problems.push({
        source: `env ${name}`,
        path: '',
        message: 'unknown GRID_ variable: it names no config key',
        hint: didYouMean(name, candidates) ?? 'see docs/configuration.md for the variable names',
      });
    }
  }

  // Whole tables first, so `GRID_LIMIT_PEER_INCOMING_MESSAGES` then `..._RATE` both count.
  keyVars.sort((a, b) => a[1].path.length - b[1].path.length || a[0].localeCompare(b[0]));
  for (const [name, { path, node }, raw] of keyVars) {
    const problem = (message: string, hint?: string) =>
      problems.push({ source: `env ${name}`, path: formatPath(path), message, ...(hint ? { hint } : {}) });
    const pathName = formatPath(path);
    const other = setBy.get(pathName);
    if (other) {
      problem(`also set by ${other}`, 'set only one of them');
      continue;
    }
    const parsed = parseEnvValue(raw, node);
    if ('error' in parsed) {
      problem(parsed.error);
      continue;
    }
    const conflict = setPath(doc, path, parsed.value);
    if (conflict) {
      problem(conflict);
      continue;
    }
    setBy.set(pathName, name);
  }

  for (const [name, path, raw] of portVars) {
    const problem = (message: string) =>
      problems.push({ source: `env ${name}`, path: formatPath(path), message });
    if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
      problem(`expected a port number 0..65535, got ${JSON.stringify(raw)}`);
      continue;
    }
    const current = getPath(doc, path) ?? defaultAt(path);
    const hp = typeof current === 'string' ? parseHostPort(current) : undefined;
    if (!hp) {
      problem(`cannot set the port of binding ${JSON.stringify(current)}: not "host:port"`);
      continue;
    }
    const conflict = setPath(doc, path, formatHostPort(hp.host, Number(raw)));
    if (conflict) problem(conflict);
    else setBy.set(formatPath(path), name);
  }
  return { problems, setBy };
}

type Parsed = { value: unknown } | { error: string };

function parseEnvValue(raw: string, node: SchemaNode): Parsed {
  // A union (`version = 123456` or `"v1"`): the first branch the text parses as, in schema order.
  if (node.anyOf) {
    const errors: string[] = [];
    for (const branch of node.anyOf) {
      const parsed = parseEnvValue(raw, branch);
      if (!('error' in parsed)) return parsed;
      errors.push(parsed.error);
    }
    return { error: errors.join('; or ') };
  }
  switch (node.type) {
    case 'integer':
      return /^[+-]?\d+$/.test(raw.trim())
        ? { value: Number(raw.trim()) }
        : {
            error: `expected an integer${node['x-unit'] === 'ms' ? ' (milliseconds)' : ''}, got ${JSON.stringify(raw)}`,
          };
    case 'number': {
      const n = Number(raw.trim());
      return raw.trim() !== '' && Number.isFinite(n)
        ? { value: n }
        : { error: `expected a number, got ${JSON.stringify(raw)}` };
    }
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (v === 'true' || v === 'false') return { value: v === 'true' };
      return { error: `expected true or false, got ${JSON.stringify(raw)}` };
    }
    case 'array': {
      if (raw.trim().startsWith('[')) return parseInlineToml(raw, 'a TOML inline array');
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const values: unknown[] = [];
      for (const item of items) {
        const parsed = parseEnvValue(item, node.items ?? {});
        if ('error' in parsed) return { error: `item ${JSON.stringify(item)}: ${parsed.error}` };
        values.push(parsed.value);
      }
      return { value: values };
    }
    case 'object':
      return parseInlineToml(raw, 'a TOML inline table, e.g. {rate=100,capacity=200}');
    default:
      // Strings (and enums of strings) are taken verbatim; the schema validates them later.
      return { value: raw };
  }
}

function parseInlineToml(raw: string, what: string): Parsed {
  try {
    return { value: parseToml(`v = ${raw}`).v };
  } catch (e) {
    const first = String((e as Error).message).split('\n')[0];
    return { error: `expected ${what}: ${first}` };
  }
}

function getPath(doc: Record<string, unknown>, path: KeyPath): unknown {
  let node: unknown = doc;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/** Sets a value, creating missing tables; returns a message when the file has a non-table in the way. */
function setPath(doc: Record<string, unknown>, path: KeyPath, value: unknown): string | undefined {
  let node: Record<string, unknown> = doc;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = String(path[i]);
    const next = node[seg];
    if (next === undefined) node[seg] = {};
    else if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      return `cannot set it: ${formatPath(path.slice(0, i + 1))} in the file is not a table`;
    }
    node = node[seg] as Record<string, unknown>;
  }
  node[String(path[path.length - 1])] = value;
  return undefined;
}

function defaultAt(path: KeyPath): unknown {
  let node: SchemaNode | undefined = asNode(configSchema);
  for (const seg of path) node = node?.properties?.[String(seg)];
  return node?.default;
}
