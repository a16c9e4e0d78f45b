// Schema validation with ajv: fills defaults in place and turns ajv's errors into problems a
// person can act on ("expected an integer (milliseconds), got \"5s\""), with did-you-mean hints.

import { Ajv, type ErrorObject } from 'ajv';
import { didYouMean, type KeyPath } from './errors.ts';
import { formats } from './formats.ts';
import { configSchema, type SchemaNode, sectionAliases } from './schema.ts';

/** A problem before it is placed in a source (file line or env variable); see load.ts. */
export interface PathProblem {
  path: KeyPath;
  message: string;
  hint?: string;
  /** A check's own words for a value the schema refuses too: the schema's problem at `path` is dropped (load.ts). */
  supersedesSchema?: boolean;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
ajv.addVocabulary(['x-unit', 'x-extension']);
for (const [name, spec] of Object.entries(formats)) ajv.addFormat(name, spec.validate);
const validateConfig = ajv.compile(configSchema);

/** Validates `doc` against the schema, filling defaults into it. */
export function validateDocument(doc: Record<string, unknown>): PathProblem[] {
  if (validateConfig(doc)) return [];
  const errors = validateConfig.errors ?? [];
  // Errors inside a union branch only say "not this branch"; the union's own error says it all.
  // Likewise a bad table key yields a `pattern` error inside `propertyNames` and the
  // `propertyNames` error itself (which names the key): keep the latter.
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  return errors
    .filter((e) => !unions.some((u) => e.schemaPath.startsWith(u)))
    .filter((e) => !(e.keyword === 'pattern' && e.schemaPath.includes('/propertyNames/')))
    .map((e) => translate(e, doc));
}

/** Validates a section object on its own: used to derive the `defaultXxx` values. */
export function withDefaults<T>(schema: object, value: Record<string, unknown> = {}): T {
  // A section's own `default` only means something inside its parent; ajv (strict) rejects it at a root.
  const { default: _ignored, ...root } = schema as Record<string, unknown>;
  const validate = ajv.compile(root);
  if (!validate(value))
    throw new Error(`schema defaults do not validate: ${ajv.errorsText(validate.errors)}`);
  return value as T;
}

function translate(e: ErrorObject, doc: unknown): PathProblem {
  const path = pointerToPath(e.instancePath, doc);
  const schema = e.parentSchema as SchemaNode | undefined;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(schema?.properties ?? {});
      if (path.length === 0) known.push(...Object.keys(sectionAliases));
      return {
        path: [...path, key],
        message: 'unknown key',
        hint: didYouMean(key, known) ?? `expected one of: ${known.join(', ')}`,
      };
    }
    case 'required': {
      const key = String(params.missingProperty);
      // Keys inside arrays (authorization.keys[0].kid) have no variable of their own.
      const inArray = path.some((seg) => typeof seg === 'number');
      return {
        path: [...path, key],
        message: 'missing required key',
        ...(inArray
          ? {}
          : { hint: `set it here or with the environment variable ${envNameHint([...path, key])}` }),
      };
    }
    case 'type':
      return {
        path,
        message: `expected ${describeType(String(params.type), schema)}, got ${describeValue(e.data)}`,
      };
    case 'minimum':
    case 'maximum':
      return { path, message: `${describeValue(e.data)} is out of range: must be ${describeRange(schema)}` };
    case 'minLength':
      return { path, message: 'must not be empty' };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      const hint =
        typeof e.data === 'string'
          ? didYouMean(e.data, (params.allowedValues as unknown[]).map(String))
          : undefined;
      return {
        path,
        message: `must be one of ${allowed.join(', ')} (got ${describeValue(e.data)})`,
        ...(hint ? { hint } : {}),
      };
    }
    case 'const':
      return {
        path,
        message: `must be ${JSON.stringify(params.allowedValue)} (got ${describeValue(e.data)})`,
      };
    case 'format': {
      const spec = formats[String(params.format)];
      return {
        path,
        message: `${describeValue(e.data)} is not ${spec?.expected ?? `a valid ${params.format}`}`,
      };
    }
    case 'propertyNames':
      if (params.propertyName !== undefined) {
        return {
          path: [...path, String(params.propertyName)],
          message: 'invalid name: use letters, digits and _',
        };
      }
      return { path, message: `${describeValue(e.data)} has the wrong form` };
    case 'anyOf': {
      const types = (schema?.anyOf ?? []).map((s) => describeType(s.type ?? 'value', s));
      return { path, message: `expected ${types.join(' or ')}, got ${describeValue(e.data)}` };
    }
    case 'uniqueItems':
      return {
        path: [...path, Number(params.i)],
        message: `${describeValue((e.data as unknown[])[Number(params.i)])} is listed twice`,
        hint: 'list it once',
      };
    default:
      return { path, message: e.message ?? 'invalid value' };
  }
}

/** Local copy of the env naming rule (env.ts imports us, so we cannot import it back). */
function envNameHint(path: KeyPath): string {
  return `GRID_${path.join('_').toUpperCase()}`;
}

/** JSON pointer → key path; a segment is an array index only where the data holds an array. */
function pointerToPath(pointer: string, doc: unknown): KeyPath {
  const path: (string | number)[] = [];
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      path.push(Number(seg));
      node = node[Number(seg)];
    } else {
      path.push(seg);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return path;
}

function describeType(type: string, schema: SchemaNode | undefined): string {
  switch (type) {
    case 'integer':
      return schema?.['x-unit'] === 'ms' ? 'an integer (milliseconds)' : 'an integer';
    case 'object':
      return 'a table';
    case 'array':
      return 'an array';
    case 'boolean':
      return 'a boolean (true or false)';
    default:
      return `a ${type}`;
  }
}

export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (v !== null && typeof v === 'object') return v.constructor?.name === 'TomlDate' ? 'a date' : 'a table';
  return String(v);
}

function describeRange(schema: SchemaNode | undefined): string {
  const min = schema?.minimum;
  const max = schema?.maximum;
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  if (min !== undefined) return `at least ${min}`;
  if (max !== undefined) return `at most ${max}`;
  return 'in range';
}
