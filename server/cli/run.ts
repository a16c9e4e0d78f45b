/**
 * `grid [--config F] [--license F]`: run the server until a signal, licence expiry or a fatal
 * error stops it. Exit codes: see exitCodes.ts.
 */

import { signToken } from '../../common/auth/index.ts';
import { type LicenseExpiryWatch, watchLicenseExpiry } from '../../common/license/index.ts';
import {
  assembleGrid,
  NATIVE_BUILD_COMMAND,
  NativeQuicUnavailable,
  requireQuicEngine,
  startGridServices,
  supervisorCallTimeoutMs,
} from '../assembly.ts';
import { type GridConfig, redactUrl, type SupervisorConfig, splitBinding } from '../config/index.ts';
import type { DevEnvironment } from '../dev/devEnvironment.ts';
import { Grid } from '../grid.ts';
import { createLogger, type GridLogger } from '../observability/log.ts';
import {
  awaitSupervisedConfig,
  JsonRpcClient,
  reportedVersion,
  SupervisorError,
} from '../supervisor/index.ts';
import { readPackageVersion } from '../version.ts';
import { parseCommandArgs } from './args.ts';
import { loadEffectiveConfig } from './effectiveConfig.ts';
import { describeLicense, loadEffectiveLicense } from './effectiveLicense.ts';
import { ExitCode, type ExitCodeValue, exitCodeHelp } from './exitCodes.ts';
import { describeHeapFlags } from './heapFlags.ts';
import { waitForPortsFile } from './portsFile.ts';

export const runHelp = `Usage: grid [--config FILE] [--license FILE]

Runs the ODIN Grid server.
  --config FILE    config.toml to use (default: config.toml; env GRID_CONFIG). Without one,
                   the embedded development default runs on loopback.
  --license FILE   license.toml to use (default: license.toml; env GRID_LICENSE). Without
                   one, the server runs unlicensed and says so.

GRID_<SECTION>_<KEY> environment variables override config keys (docs/configuration.md).
GRID_PORTS_FILE names a file of GRID_*_PORT lines assigned from outside (the operator's
PortRange mode): the server waits until it holds them, then applies them.
SIGTERM or SIGINT drains (joins refused, rooms keep working until empty or
[shutdown] grace_period), then exits 0; a second signal exits at once.

${exitCodeHelp}`;

/** The token in the dev banner lasts a day, so a developer can paste it for a while. */
const DEV_TOKEN_LIFETIME_S = 86_400;

export async function runCommand(
  argv: string[],
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<ExitCodeValue> {
  const { values } = parseCommandArgs(
    {
      name: 'grid',
      options: { config: { type: 'string', short: 'c' }, license: { type: 'string', short: 'l' } },
    },
    argv,
  );
  if (values.help) {
    out(runHelp);
    return ExitCode.ok;
  }
  const env = await withAssignedPorts(process.env, err);
  const effective = await loadEffectiveConfig({ configFlag: values.config, env });
  const { source, dev } = effective;
  let config = effective.config;
  const logger = createLogger({
    verbosity: config.log.terminal.verbosity ?? config.verbosity,
    format: config.log.terminal.format,
    filters: config.log.terminal.filters,
  });
  const effectiveLicense = await loadEffectiveLicense({ licenseFlag: values.license, env: process.env });
  const license = effectiveLicense.license;
  logger.info({ config: source }, 'configuration loaded');
  logger.info(describeHeapFlags(process.execArgv, process.env.NODE_OPTIONS));
  if (license === null) logger.warn(`licence: ${describeLicense(effectiveLicense)}`);
  else logger.info(`licence: ${describeLicense(effectiveLicense)}`);

  const version = await readPackageVersion();
  if (config.supervisor) {
    const merged = await supervisedConfig(config, config.supervisor, version, logger);
    if (merged === undefined) return ExitCode.failure;
    config = merged;
  }
  try {
    requireQuicEngine(config);
  } catch (error) {
    if (!(error instanceof NativeQuicUnavailable)) throw error;
    err(`grid: ${error.message}`);
    return ExitCode.failure;
  }
  if (dev?.quicMissing !== undefined) {
    logger.warn(
      { reason: dev.quicMissing },
      `development default: no [quic] listener, because the native QUIC addon is not built; \`${NATIVE_BUILD_COMMAND}\` builds it (a config file with [quic] would refuse to start without it)`,
    );
  }
  if (config.http === undefined && config.quic === undefined) {
    logger.warn('neither [http] nor [quic] is configured: no client can connect to this server');
  }
  let grid: Grid | undefined;
  const parts = assembleGrid(config, logger, { ready: () => grid?.ready ?? false });
  grid = new Grid({ config, logger, listeners: parts.listeners, core: parts.sfu });
  let expiryWatch: LicenseExpiryWatch | undefined;
  const validUntil = license?.validUntil;
  if (validUntil !== undefined) {
    expiryWatch = watchLicenseExpiry({ validUntil }, () => {
      logger.error(
        { validUntil: validUntil.toISOString() },
        'the licence has expired: draining and stopping',
      );
      void grid.shutdown('license-expired');
    });
  }
  installSignalHandlers(grid, logger);
  try {
    await grid.start();
  } catch (error) {
    expiryWatch?.cancel();
    throw error;
  }
  const services = startGridServices({ grid, config, parts, license, version, logger });
  if (dev) out(await devBanner(config, dev));
  const exitCode = await grid.stopped;
  expiryWatch?.cancel();
  await services.settled();
  return exitCode;
}

/**
 * The environment with the ports of `GRID_PORTS_FILE` applied (server/cli/portsFile.ts): waits
 * until the file holds them. Before the config is loaded there is no logger yet: stderr.
 */
async function withAssignedPorts(
  env: NodeJS.ProcessEnv,
  err: (text: string) => void,
): Promise<Record<string, string | undefined>> {
  const path = env.GRID_PORTS_FILE;
  if (!path) return env;
  const ports = await waitForPortsFile(path, {
    onWaiting: (ms) =>
      err(
        `grid: waiting for this server's ports in GRID_PORTS_FILE ${path} (${Math.round(ms / 1000)} s so far)`,
      ),
  });
  err(
    `grid: ports from ${path}: ${Object.entries(ports)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  return { ...env, ...ports };
}

/** `sfu.GridConfig`: the config to run with, or undefined (logged) when the supervisor fails us. */
async function supervisedConfig(
  config: GridConfig,
  supervisor: SupervisorConfig,
  version: string,
  logger: GridLogger,
): Promise<GridConfig | undefined> {
  const log = logger.module('supervisor');
  const url = redactUrl(supervisor.url);
  const client = new JsonRpcClient({
    url: supervisor.url,
    timeoutMs: supervisorCallTimeoutMs,
    ...(supervisor.token_file ? { tokenFile: supervisor.token_file } : {}),
  });
  try {
    const merged = await awaitSupervisedConfig({
      client,
      config,
      version: reportedVersion(supervisor, version),
      onRetry: (error, waitMs) =>
        log.warn({ reason: error.message, waitMs }, 'sfu.GridConfig failed; retrying'),
    });
    log.info(
      { supervisor: url, keys: merged.authorization.keys.length },
      'configuration merged by the supervisor',
    );
    return merged;
  } catch (error) {
    if (!(error instanceof SupervisorError)) throw error;
    log.error({ supervisor: url, code: error.code }, `cannot start under the supervisor: ${error.message}`);
    return undefined;
  }
}

function installSignalHandlers(grid: Grid, logger: ReturnType<typeof createLogger>): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      logger.info({ signal }, 'shutting down (send the signal again to stop at once)');
      void grid.shutdown('signal');
    } else {
      logger.warn({ signal }, 'second signal: stopping now');
      void grid.shutdown('signal', { immediate: true });
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function devBanner(config: GridConfig, dev: DevEnvironment): Promise<string> {
  const token = await signToken(
    dev.accessKey,
    { uid: 'dev-user', rid: 'default' },
    { lifetimeSeconds: DEV_TOKEN_LIFETIME_S, audience: 'sfu' },
  );
  const lines = [
    '',
    '  ODIN Grid is running with the embedded development default (loopback only).',
    '',
    ...(config.http
      ? [
          `  web SDK gateway URL:  https://localhost:${splitBinding(config.http.binding).port}/   (OdinClient.initRoom(token, url))`,
          `  web voice:  WebRTC on udp ${config.http.webrtc_binding}`,
        ]
      : []),
    ...(config.quic
      ? [`  native (WebTransport):  https://localhost:${splitBinding(config.quic.binding).port}/main   (udp)`]
      : []),
    ...(config.metrics
      ? [`  metrics:  http://${config.metrics.binding}/metrics   (also /healthz, /readyz)`]
      : []),
    `  certificate SHA-256 (for serverCertificateHashes):  ${dev.certificateSha256}`,
    `  access key:  in ${dev.directory}/access-key (keep it secret)`,
    '',
    `  a token for user "dev-user", room "default", valid ${DEV_TOKEN_LIFETIME_S / 3600} h:`,
    `  ${token}`,
    '',
    '  more tokens:  npm run grid -- token --room ROOM --user USER',
    '',
  ];
  return lines.filter((line, i) => line !== '' || lines[i - 1] !== '').join('\n');
}
