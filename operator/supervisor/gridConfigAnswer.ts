/**
 * The `sfu.GridConfig` answer, as `4Players/odin-gateway` makes it (ODIN-PROTOCOL.md section 5):
 * the server's own config deep-merged with the recommended settings (local values win, arrays
 * appended) plus the per-server key (HKDF from the fleet's master key, salt = the server's
 * public endpoint) in `authorization.keys`. Recommended settings go only into sections the
 * server has: adding `[quic]` would open a listener the pod has no port for.
 *
 * The answer sets `public_address` to the address the operator computed for the pod from its
 * Pod/Service objects (host IP, pod IP, template, or a LoadBalancer Service's ingress), and the
 * key is derived from the resulting endpoint; the caller's own idea of its address never counts.
 */
import { parse } from 'smol-toml';
import { deriveServerKey, type OdinJwk } from '../../common/auth/index.ts';
import {
  defaultLimitConfig,
  type GridConfig,
  parseConfigText,
  renderConfigToml,
} from '../../server/config/index.ts';
import { endpointOf } from '../render/endpoint.ts';

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The gateway's recommended settings, by section. */
export const recommendedSettings: Table = {
  supervisor: { report_interval: 5000 },
  quic: { keep_alive_interval: 5000, idle_timeout: 30000, pre_send_timeout: 500, migration: true },
  http: { timeout: 10000, ping_interval: 5000 },
  metrics: { binding: '0.0.0.0:9000' },
  // The schema's default is the gateway's recommendation {rate 10, capacity 50, overflow 20}.
  limit: { peer: { incoming_messages: { ...defaultLimitConfig.peer.incoming_messages } } },
};

export function mergeConfig(recommended: Table, local: Table): Table {
  const out: Table = { ...recommended };
  for (const [key, value] of Object.entries(local)) {
    const base = out[key];
    if (Array.isArray(base) && Array.isArray(value)) out[key] = [...base, ...value];
    else if (isTable(base) && isTable(value)) out[key] = mergeConfig(base, value);
    else out[key] = value;
  }
  return out;
}

export function serverKeyFor(masterKey: Uint8Array, endpoint: string): OdinJwk {
  return deriveServerKey(masterKey, endpoint);
}

/** Builds the answer; throws ConfigError when the result would not load (the server would refuse it). */
export function answerGridConfig(params: {
  localToml: string;
  masterKey: Uint8Array;
  /** The pod's public address (no port: each listener adds its binding port). */
  address: string;
}): { config: string; endpoint: string; key: OdinJwk } {
  const local = parse(params.localToml) as Table;
  const recommended = Object.fromEntries(
    Object.entries(recommendedSettings).filter(([section]) => section in local),
  );
  const merged = mergeConfig(recommended, local);
  merged.public_address = params.address;
  const endpoint = endpointOf(
    parseConfigText(renderConfigToml(merged as GridConfig), { source: 'merged config' }),
  );
  const key = serverKeyFor(params.masterKey, endpoint);
  const authorization = isTable(merged.authorization) ? merged.authorization : {};
  const keys = Array.isArray(authorization.keys) ? authorization.keys : [];
  merged.authorization = { ...authorization, keys: [...keys, key] };
  const config = renderConfigToml(merged as GridConfig);
  parseConfigText(config, { source: 'sfu.GridConfig answer' });
  return { config, endpoint, key };
}
