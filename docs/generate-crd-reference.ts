// Generates the "CRD reference" section of docs/operator.md from crds/odinservers.odin-grid.io.yaml
// (itself generated from operator/api/crd.ts), so the field list never drifts from the CRD the
// API server enforces. The section sits between `<!-- crd-reference:start -->` and
// `<!-- crd-reference:end -->`; when the markers are absent it is inserted after "## The resource".
//
//   node docs/generate-crd-reference.ts --write   rewrite docs/operator.md
//   node docs/generate-crd-reference.ts --check   exit 1 when the committed section is stale
//   node docs/generate-crd-reference.ts           print the section
//
// Deterministic: fields and rules keep the order of the CRD file, nothing depends on time or
// environment. test/docs/crdReference.test.ts fails when the committed section is stale.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const crdFilePath = fileURLToPath(new URL('../crds/odinservers.odin-grid.io.yaml', import.meta.url));
export const operatorDocPath = fileURLToPath(new URL('./operator.md', import.meta.url));

export const START_MARKER = '<!-- crd-reference:start -->';
export const END_MARKER = '<!-- crd-reference:end -->';
/** The section the reference follows when the markers are not there yet. */
const ANCHOR_HEADING = '## The resource';

type CelRule = { rule: string; message: string | undefined; fieldPath: string | undefined };

/** One node of a structural OpenAPI v3 schema, as much of it as the reference shows. */
export type SchemaNode = {
  type: string | undefined;
  format: string | undefined;
  description: string | undefined;
  default: unknown;
  hasDefault: boolean;
  enum: readonly unknown[] | undefined;
  minimum: number | undefined;
  maximum: number | undefined;
  minLength: number | undefined;
  maxLength: number | undefined;
  pattern: string | undefined;
  required: readonly string[];
  properties: ReadonlyMap<string, SchemaNode>;
  items: SchemaNode | undefined;
  additionalProperties: SchemaNode | undefined;
  preserveUnknownFields: boolean;
  listType: string | undefined;
  listMapKeys: readonly string[];
  rules: readonly CelRule[];
};

/** A problem in the CRD file, named by its place in the document. */
export class CrdShapeError extends Error {
  constructor(where: string, problem: string) {
    super(`${crdFilePath}: ${where}: ${problem}`);
    this.name = 'CrdShapeError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optional<T>(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  check: (v: unknown) => v is T,
): T | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (!check(value)) throw new CrdShapeError(`${where}.${key}`, `unexpected value ${JSON.stringify(value)}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);

/** Parses one schema node (untrusted YAML) into a typed value; `where` is its JSON path in the CRD. */
export function parseSchemaNode(raw: unknown, where: string): SchemaNode {
  if (!isRecord(raw)) throw new CrdShapeError(where, 'a schema must be a mapping');
  const properties = new Map<string, SchemaNode>();
  const rawProperties = raw.properties;
  if (rawProperties !== undefined) {
    if (!isRecord(rawProperties)) throw new CrdShapeError(`${where}.properties`, 'must be a mapping');
    for (const [name, child] of Object.entries(rawProperties)) {
      properties.set(name, parseSchemaNode(child, `${where}.properties.${name}`));
    }
  }
  const rules: CelRule[] = [];
  const rawRules = optional(raw, 'x-kubernetes-validations', where, isArray) ?? [];
  rawRules.forEach((rawRule, i) => {
    const at = `${where}.x-kubernetes-validations[${i}]`;
    if (!isRecord(rawRule) || !isString(rawRule.rule)) throw new CrdShapeError(at, 'needs a string rule');
    rules.push({
      rule: rawRule.rule,
      message: optional(rawRule, 'message', at, isString),
      fieldPath: optional(rawRule, 'fieldPath', at, isString),
    });
  });
  const additional = raw.additionalProperties;
  return {
    type: optional(raw, 'type', where, isString),
    format: optional(raw, 'format', where, isString),
    description: optional(raw, 'description', where, isString),
    default: raw.default,
    hasDefault: Object.hasOwn(raw, 'default'),
    enum: optional(raw, 'enum', where, isArray),
    minimum: optional(raw, 'minimum', where, isNumber),
    maximum: optional(raw, 'maximum', where, isNumber),
    minLength: optional(raw, 'minLength', where, isNumber),
    maxLength: optional(raw, 'maxLength', where, isNumber),
    pattern: optional(raw, 'pattern', where, isString),
    required: optional(raw, 'required', where, isStringArray) ?? [],
    properties,
    items: raw.items === undefined ? undefined : parseSchemaNode(raw.items, `${where}.items`),
    additionalProperties: isRecord(additional)
      ? parseSchemaNode(additional, `${where}.additionalProperties`)
      : undefined,
    preserveUnknownFields: optional(raw, 'x-kubernetes-preserve-unknown-fields', where, isBoolean) ?? false,
    listType: optional(raw, 'x-kubernetes-list-type', where, isString),
    listMapKeys: optional(raw, 'x-kubernetes-list-map-keys', where, isStringArray) ?? [],
    rules,
  };
}

/** The CRD's identity and the schema of its storage version. */
export type CrdDocument = {
  name: string;
  group: string;
  kind: string;
  version: string;
  shortNames: readonly string[];
  schema: SchemaNode;
};

export function parseCrd(text: string): CrdDocument {
  const doc: unknown = parse(text);
  if (!isRecord(doc) || !isRecord(doc.metadata) || !isRecord(doc.spec)) {
    throw new CrdShapeError('(root)', 'not a CustomResourceDefinition');
  }
  const { spec } = doc;
  const names = isRecord(spec.names) ? spec.names : {};
  const versions = isArray(spec.versions) ? spec.versions.filter(isRecord) : [];
  const storage = versions.find((v) => v.storage === true) ?? versions[0];
  if (storage === undefined || !isRecord(storage.schema)) {
    throw new CrdShapeError('spec.versions', 'no version with a schema');
  }
  return {
    name: String(doc.metadata.name),
    group: String(spec.group),
    kind: String(names.kind),
    version: String(storage.name),
    shortNames: isStringArray(names.shortNames) ? names.shortNames : [],
    schema: parseSchemaNode(storage.schema.openAPIV3Schema, 'openAPIV3Schema'),
  };
}

/** `integer`, `[]string`, `map[string]string`, `string (date-time)`, `object (any fields)`. */
function typeOf(node: SchemaNode): string {
  if (node.type === 'array') return `[]${node.items === undefined ? 'any' : typeOf(node.items)}`;
  if (node.type === 'object' && node.additionalProperties !== undefined) {
    return `map[string]${typeOf(node.additionalProperties)}`;
  }
  if (node.type === 'object' && node.preserveUnknownFields && node.properties.size === 0) {
    return 'object (any fields)';
  }
  const type = node.type ?? 'any';
  return node.format === undefined ? type : `${type} (${node.format})`;
}

function literal(value: unknown): string {
  return typeof value === 'string' ? code(value) : code(JSON.stringify(value));
}

function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function constraints(node: SchemaNode, required: boolean): string {
  const out: string[] = [];
  if (required) out.push('required');
  if (node.enum !== undefined) out.push(`one of ${node.enum.map(literal).join(', ')}`);
  if (node.minimum !== undefined && node.maximum !== undefined) {
    out.push(`${node.minimum} … ${node.maximum}`);
  } else if (node.minimum !== undefined) {
    out.push(`≥ ${node.minimum}`);
  } else if (node.maximum !== undefined) {
    out.push(`≤ ${node.maximum}`);
  }
  if (node.minLength !== undefined) out.push(`min length ${node.minLength}`);
  if (node.maxLength !== undefined) out.push(`max length ${node.maxLength}`);
  if (node.pattern !== undefined) out.push(`pattern ${code(node.pattern)}`);
  if (node.listType === 'map' && node.listMapKeys.length > 0) {
    out.push(`list map keyed by ${node.listMapKeys.map(code).join(', ')}`);
  } else if (node.listType !== undefined) {
    out.push(`list type ${code(node.listType)}`);
  }
  if (node.rules.length > 0) out.push(`CEL rules (below)`);
  return out.join('; ');
}

function cell(text: string): string {
  return text.replaceAll('\n', ' ').replaceAll('|', '\\|').trim();
}

type Row = { path: string; node: SchemaNode; required: boolean };
type Rule = CelRule & { path: string };

/** Every field below `node`, depth first in file order; array items are `path[]`. */
function walk(node: SchemaNode, path: string, rows: Row[], rules: Rule[]): void {
  for (const rule of node.rules) rules.push({ ...rule, path });
  for (const [name, child] of node.properties) {
    const childPath = `${path}.${name}`;
    rows.push({ path: childPath, node: child, required: node.required.includes(name) });
    walk(child, childPath, rows, rules);
  }
  if (node.items !== undefined) walk(node.items, `${path}[]`, rows, rules);
}

function fieldTable(root: SchemaNode, top: string): { lines: string[]; rules: Rule[] } {
  const node = root.properties.get(top);
  if (node === undefined) throw new CrdShapeError(`openAPIV3Schema.properties.${top}`, 'missing');
  const rows: Row[] = [{ path: top, node, required: root.required.includes(top) }];
  const rules: Rule[] = [];
  walk(node, top, rows, rules);
  const lines = ['| field | type | default | constraints | description |', '|---|---|---|---|---|'];
  for (const row of rows) {
    const { node: n } = row;
    lines.push(
      `| ${cell(code(row.path))} | ${cell(typeOf(n))} | ${n.hasDefault ? cell(literal(n.default)) : ''} | ${cell(constraints(n, row.required))} | ${cell(n.description ?? '')} |`,
    );
  }
  return { lines, rules };
}

/** The generated section, markers included, ending in a newline. */
export function renderCrdReference(crdText: string): string {
  const crd = parseCrd(crdText);
  const spec = fieldTable(crd.schema, 'spec');
  const status = fieldTable(crd.schema, 'status');
  const rules = [...spec.rules, ...status.rules];
  const out = [
    START_MARKER,
    '## CRD reference',
    '',
    '<!-- Generated from crds/odinservers.odin-grid.io.yaml by `node docs/generate-crd-reference.ts --write`. Do not edit by hand. -->',
    '',
    `\`${crd.kind}\` (\`${crd.name}\`, version \`${crd.version}\`${crd.shortNames.length > 0 ? `, short name ${crd.shortNames.map(code).join(', ')}` : ''}).`,
    'Every field the API server accepts, in the order of the CRD. `spec.config` keys are config.toml',
    "keys: their defaults are the server's and are listed in [configuration.md](configuration.md); the",
    "CRD leaves them unset so the server's own defaults apply. `path[]` is an element of a list.",
    '',
    '### `spec`',
    '',
    ...spec.lines,
    '',
    '### `status`',
    '',
    'Written by the operator through the `/status` subresource; read-only for users.',
    '',
    ...status.lines,
    '',
    '### Validation rules (CEL)',
    '',
    'Checked by the API server on every create and update (`x-kubernetes-validations`); `kubectl apply`',
    'fails with the message. `self` is the object at the path.',
    '',
  ];
  for (const rule of rules) {
    const field =
      rule.fieldPath === undefined ? '' : ` (reported at ${code(`${rule.path}${rule.fieldPath}`)})`;
    out.push(
      `- ${code(rule.path)}: ${rule.message ?? '(no message)'}${field}`,
      `  - rule: ${code(rule.rule)}`,
    );
  }
  out.push('', END_MARKER);
  return `${out.join('\n')}\n`;
}

/** `doc` with the section replaced, or inserted before the heading that follows "## The resource". */
export function withCrdReference(doc: string, section: string): string {
  const start = doc.indexOf(START_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start !== -1 && end > start) {
    let after = end + END_MARKER.length;
    if (doc[after] === '\n') after++;
    return doc.slice(0, start) + section + doc.slice(after);
  }
  if (start !== -1 || end !== -1) {
    throw new Error(`${operatorDocPath}: only one of ${START_MARKER} / ${END_MARKER} is present`);
  }
  const anchor = doc.indexOf(`\n${ANCHOR_HEADING}\n`);
  const next = anchor === -1 ? -1 : doc.indexOf('\n## ', anchor + 1);
  if (next === -1) return `${doc.trimEnd()}\n\n${section}`;
  return `${doc.slice(0, next + 1)}${section}\n${doc.slice(next + 1)}`;
}

/** docs/operator.md as the generator would write it. */
export function generatedOperatorDoc(): string {
  const section = renderCrdReference(readFileSync(crdFilePath, 'utf8'));
  return withCrdReference(readFileSync(operatorDocPath, 'utf8'), section);
}

if (import.meta.main) {
  const mode = process.argv[2];
  if (mode === '--write') {
    writeFileSync(operatorDocPath, generatedOperatorDoc());
    console.log(`wrote the CRD reference into ${operatorDocPath}`);
  } else if (mode === '--check') {
    if (readFileSync(operatorDocPath, 'utf8') !== generatedOperatorDoc()) {
      console.error(
        `${operatorDocPath}: the CRD reference is stale: run node docs/generate-crd-reference.ts --write`,
      );
      process.exit(1);
    }
    console.log(`${operatorDocPath}: the CRD reference is up to date`);
  } else {
    process.stdout.write(renderCrdReference(readFileSync(crdFilePath, 'utf8')));
  }
}
