/**
 * The `sfu.GridConfig` answer, as `4Players/odin-gateway` makes it (ODIN-PROTOCOL.md section 5):
 * the server's own config deep-merged with the recommended settings (local values win, arrays
 * appended) plus the per-server key (HKDF from the fleet's master key, salt = the server's
 * public endpoint) in `authorization.keys`. Recommended settings go only into sections the
 * server has: adding `[quic]` would open a listener the pod has no port for.
 *
 * With `networking.mode: LoadBalancer` the answer also sets `public_address` to the pod's
 * Service ingress, and the key is derived from the resulting endpoint (what the server then
 * reports), so a restarted operator derives the same key from a report.
 */
import { parse } from 'smol-toml';
import { deriveServerKey, type OdinJwk } from '../../common/auth/index.ts';
import {
  defaultLimitConfig,
  type GridConfig,
  parseConfigText,
  publicAddressFor,
  renderConfigToml,
  requirePublicAddress,
} from '../../server/config/index.ts';

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

/** The address the supervisor knows a server by: `[http]`'s public address, else `[quic]`'s, else the root. */
export function endpointOf(config: GridConfig): string {
  if (config.http !== undefined) return publicAddressFor(config, 'http');
  if (config.quic !== undefined) return publicAddressFor(config, 'quic');
  return requirePublicAddress(config);
}

export function serverKeyFor(masterKey: Uint8Array, endpoint: string): OdinJwk {
  return deriveServerKey(masterKey, endpoint);
}

/** Builds the answer; throws ConfigError when the result would not load (the server would refuse it). */
export function answerGridConfig(params: {
  localToml: string;
  masterKey: Uint8Array;
  addressOverride?: string;
}): { config: string; endpoint: string; key: OdinJwk } {
  const local = parse(params.localToml) as Table;
  const recommended = Object.fromEntries(
    Object.entries(recommendedSettings).filter(([section]) => section in local),
  );
  const merged = mergeConfig(recommended, local);
  if (params.addressOverride) merged.public_address = params.addressOverride;
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
