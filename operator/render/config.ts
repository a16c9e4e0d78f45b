/**
 * config.toml for an OdinServer's pods: `spec.config` plus what the operator owns (listener
 * bindings from spec.networking.ports, `[shutdown] grace_period`, the public access keys, TLS
 * file paths, `[supervisor]` settings), rendered by the server's own config module and checked
 * by the server's own parser with the per-pod `GRID_*` variables the pods will get, so a
 * rendered file is one the server reads.
 *
 * Per pod, the environment adds `GRID_PUBLIC_ADDRESS` (downward API) and `GRID_SUPERVISOR_URL`
 * (with credentials from a Secret): neither lives in the ConfigMap.
 */
import { createHash } from 'node:crypto';
import type { OdinJwk } from '../../common/auth/index.ts';
import {
  ConfigError,
  type ConfigProblem,
  parseConfigText,
  renderConfigToml,
} from '../../server/config/index.ts';
import { operatorOwnedConfigKeys } from '../api/configSchema.ts';
import type { DefaultedOdinServer, FieldError } from '../api/types.ts';

export const CONFIG_DIR = '/etc/odin/config';
export const CONFIG_FILE = `${CONFIG_DIR}/config.toml`;
export const LICENSE_DIR = '/etc/odin/license';
export const TLS_DIR = '/etc/odin/tls';

/** Keys the operator sets from other spec fields; spec.config must leave them out. */
const derivedKeys: Record<string, string> = {
  'http.binding': 'spec.networking.ports.http',
  'http.webrtc_binding': 'spec.networking.ports.webrtc',
  'quic.binding': 'spec.networking.ports.quic',
  'metrics.binding': 'spec.networking.ports.metrics',
  'shutdown.grace_period': 'spec.drainGracePeriodSeconds',
};

/** Stand-ins for the per-pod variables, to check the file exactly as a pod will load it. */
export const sampleGridEnv = {
  GRID_PUBLIC_ADDRESS: '192.0.2.10',
  GRID_SUPERVISOR_URL: 'http://supervisor.invalid:7000/internal/ns/name/pod',
};

type Table = Record<string, unknown>;
const table = (v: unknown): Table =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Table) } : {};

function has(doc: Table, path: string): boolean {
  let node: unknown = doc;
  for (const seg of path.split('.')) {
    if (node === null || typeof node !== 'object' || !(seg in (node as Table))) return false;
    node = (node as Table)[seg];
  }
  return true;
}

export type RenderedConfig = { toml: string; errors: FieldError[] };

/** config.toml of the pods, and every problem with it as a field error under `spec.config`. */
export function renderGridConfig(
  server: DefaultedOdinServer,
  publicKeys: readonly OdinJwk[],
): RenderedConfig {
  const { spec } = server;
  const errors: FieldError[] = [];
  const user = table(spec.config);
  for (const key of operatorOwnedConfigKeys) {
    if (has(user, key))
      errors.push({ path: `spec.config.${key}`, message: 'is set by the operator; remove it' });
  }
  for (const [key, instead] of Object.entries(derivedKeys)) {
    if (has(user, key))
      errors.push({ path: `spec.config.${key}`, message: `is set by the operator; use ${instead}` });
  }
  for (const section of ['provisioning']) {
    if (section in user) errors.push({ path: `spec.config.${section}`, message: 'use spec.supervisor' });
  }

  const { ports } = spec.networking;
  const doc: Table = structuredClone(user);
  delete doc.public_address;
  const http = table(doc.http);
  http.binding = `0.0.0.0:${ports.http}`;
  http.webrtc_binding = `0.0.0.0:${ports.webrtc}`;
  doc.http = http;
  if (doc.quic !== undefined) doc.quic = { ...table(doc.quic), binding: `0.0.0.0:${ports.quic}` };
  doc.metrics = { ...table(doc.metrics), binding: `0.0.0.0:${ports.metrics}` };
  doc.shutdown = { ...table(doc.shutdown), grace_period: spec.drainGracePeriodSeconds * 1000 };
  doc.authorization = { ...table(doc.authorization), keys: publicKeys.map((k) => ({ ...k })) };
  if (spec.tls) {
    for (const listener of ['http', 'quic'] as const) {
      if (doc[listener] === undefined) continue;
      const section = table(doc[listener]);
      if (section.certificate_file === undefined && section.privatekey_file === undefined) {
        section.certificate_file = `${TLS_DIR}/tls.crt`;
        section.privatekey_file = `${TLS_DIR}/tls.key`;
      }
      doc[listener] = section;
    }
  }
  const supervisor = table(doc.supervisor);
  delete supervisor.url;
  // The built-in supervisor wants the first report at once (no_warmup = false: no warm-up
  // cycle): status and placement start from it.
  if (spec.supervisor.mode === 'BuiltIn') supervisor.no_warmup ??= false;
  doc.supervisor = supervisor;

  let toml: string;
  try {
    toml = renderConfigToml(doc as never);
  } catch (error) {
    errors.push({ path: 'spec.config', message: `cannot be written as TOML: ${(error as Error).message}` });
    return { toml: '', errors };
  }
  try {
    parseConfigText(toml, { source: 'config.toml', env: sampleGridEnv, checkFiles: false });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) errors.push(fieldErrorOf(problem));
  }
  return { toml, errors: dedupe(errors) };
}

function fieldErrorOf(problem: ConfigProblem): FieldError {
  const message = problem.hint ? `${problem.message}; ${problem.hint}` : problem.message;
  if (problem.source.startsWith('env ')) {
    return {
      path: `spec.config${problem.path ? `.${problem.path}` : ''}`,
      message: `${message} (${problem.source})`,
    };
  }
  return { path: problem.path === '' ? 'spec.config' : `spec.config.${problem.path}`, message };
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}\0${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Hash of everything a pod reads at start: a change rolls the pods. */
export function configHash(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}
