// Generates docs/configuration.md from the schema, so the reference can never drift from the
// code. `node server/config/docs.ts --write` rewrites it (npm run docs); `--check` exits 1 when
// the committed file is stale (test/config/docs.test.ts does the same).

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configEnvVars, envVarName, nonConfigEnvVars, portEnvVars } from './env.ts';
import { formatPath } from './errors.ts';
import { formats } from './formats.ts';
import { asNode, configSchema, type SchemaNode, sectionAliases } from './schema.ts';

export const configReferencePath = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

export function configReferenceMarkdown(): string {
  const root = asNode(configSchema);
  const out: string[] = [];
  out.push(
    '# Configuration reference (`config.toml`)',
    '',
    '<!-- Generated from server/config/schema.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'ODIN Grid reads one TOML file (`grid --config config.toml`, or `GRID_CONFIG`). The keys are those of',
    'the ODIN server; keys marked *ODIN Grid extension* are ours. Rules that hold everywhere:',
    '',
    '- Durations are integer **milliseconds**.',
    '- A section that is absent is **disabled**: no `[quic]` means no QUIC listener, no `[http]` no web',
    '  listener, no `[metrics]` no metrics endpoint, no `[supervisor]` standalone, no `[telemetry]` no',
    '  telemetry. Inside a present section, absent keys take their defaults.',
    `- \`[provisioning]\` is accepted as the newer name of \`[supervisor]\`; giving both is an error.`,
    '- Unknown keys are errors (with a "did you mean"). All problems are reported at once, each with',
    '  file, line and key path. Certificate and key files are checked when the config is loaded.',
    "- Under a `[supervisor]` the file may be as small as `[supervisor] url` alone (the ODIN docs'",
    '  minimal supervised config): `public_address` and everything else left out come from the',
    "  supervisor's `sfu.GridConfig` answer, and `grid check` names the required keys it leaves to it.",
    "- The ODIN server docs' own examples, as the docs print them, are in `examples/config/odin-docs/`.",
    '',
  );
  out.push(...envSection());
  out.push('## Root keys', '', ...keyTable(root, [], (n) => !isSection(n, 1)));
  for (const [name, node] of Object.entries(root.properties ?? {})) {
    if (isSection(node, 1)) out.push(...section(node, [name]));
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function envSection(): string[] {
  const aliases = Object.entries(sectionAliases).map(
    ([a, c]) => `\`GRID_${a.toUpperCase()}_*\` for \`[${c}]\``,
  );
  return [
    '## Environment overrides',
    '',
    'Every key can be set by an environment variable, applied after the file and before validation:',
    '`GRID_` + the key path with `.` replaced by `_`, uppercased. Examples: `public_address` →',
    '`GRID_PUBLIC_ADDRESS`, `http.binding` → `GRID_HTTP_BINDING`, `limit.peer.medias` →',
    '`GRID_LIMIT_PEER_MEDIAS`, `log.terminal.format` → `GRID_LOG_TERMINAL_FORMAT`. Names are matched',
    `against the known key paths, so underscores inside key names are not ambiguous. Also accepted: ${aliases.join(', ')}.`,
    '',
    "- Values are parsed by the key's type: integers, `true`/`false`, arrays as comma-separated items",
    '  (`GRID_HTTP_WEBRTC_CANDIDATES=203.0.113.7,voice.example.com`) or a TOML inline array, tables',
    "  as TOML inline tables (`GRID_LIMIT_NETWORK_INCOMING_MEDIA_PACKETS='{rate=100,capacity=200}'`).",
    '  Strings are taken verbatim (no quotes). A key that takes a number or a string',
    '  (`GRID_SUPERVISOR_VERSION`) is a number when the value reads as one. An empty value counts as unset.',
    "- Any table can also be given whole as one inline table, which replaces the file's table:",
    "  `GRID_LIMIT_PEER_INCOMING_MESSAGES='{rate=20,capacity=100,overflow=20}'`, `GRID_QUIC='{}'`.",
    '- A variable may create a section the file lacks: `GRID_METRICS_PORT=9000` enables `[metrics]`',
    '  with its defaults. This is how the operator gives each pod its own `GRID_PUBLIC_ADDRESS`.',
    '- Errors in a variable name the variable. A `GRID_*` variable that names no key is an error (with a',
    '  "did you mean"), except these, which are read elsewhere: ' +
      nonConfigEnvVars.map((v) => `\`${v}\``).join(', ') +
      '.',
    '- Port variables of the official image set only the port of a binding (the host stays as',
    '  configured or defaulted):',
    '',
    '| Variable | Sets the port of |',
    '|---|---|',
    ...Object.entries(portEnvVars).map(([name, path]) => `| \`${name}\` | \`${formatPath(path)}\` |`),
    '',
    `The schema defines ${configEnvVars.size} variables; each key's variable is listed in the tables below.`,
    '',
  ];
}

/** Objects at depth 1..2 with their own keys are TOML sections (`[limit]`, `[limit.peer]`). */
function isSection(node: SchemaNode, depth: number): boolean {
  return node.type === 'object' && node.properties !== undefined && depth <= 2;
}

function section(node: SchemaNode, path: string[]): string[] {
  const out = [`## [${path.join('.')}]`, ''];
  if (node.description) out.push(node.description, '');
  if (node['x-extension']) out.push('*ODIN Grid extension.*', '');
  const rows = keyTable(node, path, (n) => !isSection(n, path.length + 1));
  if (rows.length > 0) out.push(...rows);
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    if (isSection(child, path.length + 1)) out.push(...section(child, [...path, name]));
    if (child.type === 'array' && child.items?.properties) {
      out.push(`### [[${[...path, name].join('.')}]]`, '');
      if (child.items.description) out.push(child.items.description, '');
      out.push(...keyTable(child.items, [...path, name, 0], () => true, false));
    }
  }
  return out;
}

function keyTable(
  node: SchemaNode,
  path: (string | number)[],
  include: (n: SchemaNode) => boolean,
  withEnv = true,
): string[] {
  const rows: string[] = [];
  const required = new Set(node.required ?? []);
  const add = (name: string, child: SchemaNode, keyPath: (string | number)[], isRequired: boolean) => {
    const env = withEnv ? ` \`${envVarName(keyPath)}\` |` : '';
    rows.push(
      `| \`${name}\` | ${typeText(child)} | ${defaultText(child, isRequired)} |${env} ${cell(describe(child))} |`,
    );
  };
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    if (!include(child)) continue;
    add(name, child, [...path, name], required.has(name));
    // A small table as a value (`incoming_messages = { rate, capacity, overflow }`): list its keys too.
    if (child.type === 'object' && child.properties) {
      const inner = new Set(child.required ?? []);
      for (const [k, grand] of Object.entries(child.properties))
        add(`${name}.${k}`, grand, [...path, name, k], inner.has(k));
    }
  }
  if (rows.length === 0) return [];
  const head = withEnv
    ? '| Key | Type | Default | Environment | Description |'
    : '| Key | Type | Default | Description |';
  const rule = withEnv ? '|---|---|---|---|---|' : '|---|---|---|---|';
  return [head, rule, ...rows, ''];
}

function typeText(n: SchemaNode): string {
  if (n.enum) return n.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (n.const !== undefined) return `\`${JSON.stringify(n.const)}\``;
  if (n.anyOf) return n.anyOf.map(typeText).join(' \\| ');
  switch (n.type) {
    case 'integer': {
      const unit = n['x-unit'] === 'ms' ? ' (ms)' : '';
      if (n.minimum !== undefined && n.maximum !== undefined)
        return `integer ${n.minimum}..${n.maximum}${unit}`;
      if (n.minimum !== undefined) return `integer ≥ ${n.minimum}${unit}`;
      return `integer${unit}`;
    }
    case 'array':
      return `array of ${n.items?.properties ? 'tables' : typeText(n.items ?? {})}`;
    case 'object':
      return n.properties
        ? 'table'
        : `table of ${typeText(Object.values(n.patternProperties ?? {})[0] ?? {})}`;
    case 'string':
      return n.format ? `string (${formatName(n.format)})` : 'string';
    default:
      return n.type ?? 'value';
  }
}

function formatName(format: string): string {
  return format.replace(/^grid-/, '');
}

function defaultText(n: SchemaNode, isRequired: boolean): string {
  if (n.default === undefined) return isRequired ? '**required**' : '—';
  if (n.type === 'object' && n.properties) return '(see keys)';
  return `\`${JSON.stringify(n.default)}\``;
}

function describe(n: SchemaNode): string {
  let text = n.description ?? '';
  const spec = n.format ? formats[n.format] : n.items?.format ? formats[n.items.format] : undefined;
  if (spec) text += ` Form: ${spec.expected}.`;
  if (n['x-extension']) text += ' *ODIN Grid extension.*';
  return text;
}

function cell(s: string): string {
  return s.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

if (import.meta.main) {
  const generated = configReferenceMarkdown();
  const mode = process.argv[2];
  if (mode === '--write') {
    writeFileSync(configReferencePath, generated);
    console.log(`wrote ${configReferencePath}`);
  } else if (mode === '--check') {
    let current = '';
    try {
      current = readFileSync(configReferencePath, 'utf8');
    } catch {}
    if (current !== generated) {
      console.error(`${configReferencePath} is stale: run npm run docs`);
      process.exit(1);
    }
    console.log(`${configReferencePath} is up to date`);
  } else {
    process.stdout.write(generated);
  }
}
