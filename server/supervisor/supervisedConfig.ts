/**
 * `sfu.GridConfig` at start (ODIN-PROTOCOL.md section 5): the server sends its own config as
 * TOML and runs with the config the supervisor returns (the local config deep-merged with the
 * gateway's recommended settings, local values winning, plus a derived key in
 * `[authorization] keys`: with no local keys, this is how keys arrive). The answer goes through
 * the same schema and checks as a config file; a bad answer is an error, never a silent
 * fallback to the local config.
 */

import type { GridConfigParams } from '../../common/gateway/protocol.ts';
import {
  ConfigError,
  type GridConfig,
  parseConfigText,
  publicAddressFor,
  renderConfigToml,
  type SupervisorConfig,
} from '../config/index.ts';
import { SupervisorError } from './errors.ts';
import type { JsonRpcClient } from './jsonRpcClient.ts';

/** The source name problems in the answer are reported under. */
export const gridConfigAnswerSource = 'sfu.GridConfig answer';

/**
 * The address the supervisor knows this server by (`public_endpoint`): where the gateway sends
 * clients, and the hostname it derives this server's key from. The web listener's public
 * address, else the QUIC one, else the root `public_address`. Undefined while the config does
 * not know it yet (a supervised config that leaves `public_address` to `sfu.GridConfig`): the
 * gateway then goes by the address the call came from.
 */
export function publicEndpointFor(config: GridConfig): string | undefined {
  for (const listener of ['http', 'quic'] as const) {
    const section = config[listener];
    if (section === undefined) continue;
    if (section.public_address_override === undefined && config.public_address === undefined)
      return undefined;
    return publicAddressFor(config, listener);
  }
  return config.public_address;
}

/**
 * `version` in `sfu.GridConfig` and `sfu.Report`: `[supervisor] version` when set (the docs
 * make it a number; the gateway reads a string, so it goes out in decimal), else the release.
 */
export function reportedVersion(supervisor: Pick<SupervisorConfig, 'version'>, release: string): string {
  return supervisor.version === undefined ? release : String(supervisor.version);
}

export async function fetchSupervisedConfig(params: {
  client: JsonRpcClient;
  config: GridConfig;
  version: string;
}): Promise<GridConfig> {
  const { client, config, version } = params;
  const endpoint = publicEndpointFor(config);
  const request: GridConfigParams = {
    ...(endpoint === undefined ? {} : { public_endpoint: endpoint }),
    server: 'grid',
    version,
    config: renderConfigToml(config),
  };
  const result = await client.call('sfu.GridConfig', request);
  const text = (result as { config?: unknown } | null)?.config;
  if (typeof text !== 'string') {
    throw new SupervisorError(
      'bad_response',
      `sfu.GridConfig at ${client.shownUrl}: expected a result {config: <TOML string>}`,
    );
  }
  let merged: GridConfig;
  try {
    merged = parseConfigText(text, { source: gridConfigAnswerSource });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new SupervisorError(
      'bad_config',
      `sfu.GridConfig at ${client.shownUrl}: the supervisor's config is not valid:\n${error.message}`,
      { cause: error },
    );
  }
  // The one required key a supervised config may leave to the answer (config/checks.ts).
  if (merged.public_address === undefined) {
    throw new SupervisorError(
      'bad_config',
      `sfu.GridConfig at ${client.shownUrl}: neither config.toml nor the supervisor's answer sets ` +
        'public_address; set it in config.toml or with GRID_PUBLIC_ADDRESS',
    );
  }
  return merged;
}

/**
 * `fetchSupervisedConfig`, retried while the supervisor cannot be reached (network errors,
 * time-outs, HTTP errors) with a doubling wait from 1 s up to 30 s, for at most `giveUpAfterMs`
 * (300 s, the same rule as reports). An answer that is wrong (bad config, JSON-RPC error, wrong
 * shape) fails at once: retrying would not fix it.
 */
export async function awaitSupervisedConfig(params: {
  client: JsonRpcClient;
  config: GridConfig;
  version: string;
  onRetry?: (error: SupervisorError, waitMs: number) => void;
  giveUpAfterMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}): Promise<GridConfig> {
  const giveUpAfterMs = params.giveUpAfterMs ?? 300_000;
  const sleep = params.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = params.now ?? (() => performance.now());
  const started = now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchSupervisedConfig(params);
    } catch (error) {
      const retryable =
        error instanceof SupervisorError && ['network', 'timeout', 'http'].includes(error.code);
      if (!retryable || now() - started >= giveUpAfterMs) throw error;
      const waitMs = Math.min(1000 * 2 ** attempt, 30_000);
      params.onRetry?.(error, waitMs);
      await sleep(waitMs);
    }
  }
}
