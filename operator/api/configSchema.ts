/**
 * `spec.config` in the CRD: the server's own config.toml schema (server/config/schema.ts, the
 * one source of truth) translated to a structural OpenAPI v3 schema, minus the keys the operator
 * owns:
 *
 * - `public_address`: per pod, from the downward API (`GRID_PUBLIC_ADDRESS`);
 * - `supervisor.url`: the built-in supervisor or `spec.supervisor.external` (credentials from a
 *   Secret, never in the spec);
 * - `authorization.keys`: from the access-key Secret (secrets never live in the spec).
 *
 * The translation drops what Kubernetes cannot hold or would misuse: the server's custom
 * `format`s (the server validates them; validate.ts runs that check), `x-` annotations and
 * defaults (the server applies its own; defaulting them here would freeze today's defaults into
 * every stored object). Unions become `x-kubernetes-preserve-unknown-fields`.
 */
import { configSchema, type SchemaNode } from '../../server/config/schema.ts';

export type OpenApiSchema = {
  type?: string;
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  items?: OpenApiSchema;
  additionalProperties?: OpenApiSchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  default?: unknown;
  format?: string;
  maxItems?: number;
  maxLength?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string }[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
};

/** Key paths (dot-joined) of config.toml the operator fills in itself. */
export const operatorOwnedConfigKeys: readonly string[] = [
  'public_address',
  'supervisor.url',
  'supervisor.token_file',
  'authorization.keys',
];

type RawNode = SchemaNode & { minLength?: number; pattern?: string; maxLength?: number };

function translate(node: RawNode, path: string): OpenApiSchema {
  const out: OpenApiSchema = {};
  if (node.description) out.description = node.description;
  if (node.anyOf) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
    return out;
  }
  if (node.const !== undefined) {
    out.type = typeof node.const === 'string' ? 'string' : 'integer';
    out.enum = [node.const];
    return out;
  }
  if (node.enum) {
    out.type = 'string';
    out.enum = [...node.enum];
    return out;
  }
  switch (node.type) {
    case 'object': {
      out.type = 'object';
      if (node.properties) {
        out.properties = {};
        for (const [key, child] of Object.entries(node.properties)) {
          const childPath = path === '' ? key : `${path}.${key}`;
          if (operatorOwnedConfigKeys.includes(childPath)) continue;
          out.properties[key] = translate(child as RawNode, childPath);
        }
        const required = (node.required ?? []).filter((key) => {
          const child = node.properties?.[key];
          const childPath = path === '' ? key : `${path}.${key}`;
          return (
            child !== undefined && child.default === undefined && !operatorOwnedConfigKeys.includes(childPath)
          );
        });
        if (required.length > 0) out.required = required;
      } else if (node.patternProperties) {
        const [value] = Object.values(node.patternProperties);
        out.additionalProperties = value ? translate(value as RawNode, `${path}.*`) : { type: 'string' };
        if (out.additionalProperties['x-kubernetes-preserve-unknown-fields']) {
          delete out.additionalProperties;
          out['x-kubernetes-preserve-unknown-fields'] = true;
        }
      }
      return out;
    }
    case 'array':
      out.type = 'array';
      out.items = node.items ? translate(node.items as RawNode, `${path}[]`) : {};
      return out;
    case 'integer':
    case 'number':
    case 'boolean':
    case 'string':
      out.type = node.type;
      if (node.minimum !== undefined) out.minimum = node.minimum;
      if (node.maximum !== undefined) out.maximum = node.maximum;
      if (node.minLength !== undefined) out.minLength = node.minLength;
      return out;
    default:
      out['x-kubernetes-preserve-unknown-fields'] = true;
      return out;
  }
}

/** The OpenAPI schema of `spec.config`. */
export function configOpenApiSchema(): OpenApiSchema {
  const schema = translate(configSchema as unknown as RawNode, '');
  schema.description =
    "config.toml as structured fields, validated by the server's own schema (docs/configuration.md). " +
    'The operator fills public_address, supervisor.url and authorization.keys per pod.';
  return schema;
}
