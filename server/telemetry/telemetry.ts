/**
 * Licence and usage telemetry: one JSON record POSTed to `[telemetry] address` every
 * `interval` (the first right after start). Credentials in the address become HTTP Basic auth.
 * A send fails on a network error, a timeout (the interval, at most 10 s) or a non-2xx status.
 * With `max_consecutive_failures` set, that many failures in a row make the server log an error
 * and drain and stop with exit code 1 (`grid.shutdown('telemetry-failed')`): a licensed server
 * that cannot account for its use does not keep running unaccounted. Unset, failures are only
 * logged and counted (the ODIN docs: "When set, ..."). The record's `license` object holds
 * exactly the `[license]` fields `[telemetry] data` lists. The payload is documented in
 * docs/operations.md ("Telemetry").
 */
import type { Logger } from 'pino';
import type { LicenseFields } from '../../common/license/format.ts';
import { redactUrl, type TelemetryConfig, type TelemetryLicenseField } from '../config/index.ts';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.ts';
import type { OutcomeCounts } from '../observability/metrics.ts';
import { splitUrlCredentials } from '../supervisor/jsonRpcClient.ts';

export const TELEMETRY_SCHEMA = 'odin-grid-telemetry-v2';
const MAX_SEND_TIMEOUT_MS = 10_000;

export type TelemetryUsage = {
  clients: number;
  peers: number;
  rooms: number;
  medias: number;
  voice_packets_in: number;
  voice_packets_out: number;
};

export type TelemetryRecord = {
  schema: typeof TELEMETRY_SCHEMA;
  server: 'grid';
  version: string;
  public_address: string;
  /** ISO 8601, when the record was made. */
  timestamp: string;
  uptime_seconds: number;
  /** Sequence number of this record since start, from 1. */
  sequence: number;
  /** The `[telemetry] data` fields of the licence (null when the server runs unlicensed). */
  license: TelemetryLicense | null;
  usage: TelemetryUsage;
};

/** Each `[telemetry] data` name and the record field it fills; absent licence fields are null. */
export type TelemetryLicense = {
  valid_until?: string | null;
  licensee?: string | null;
  serial_number?: string | null;
  issuer?: string | null;
};

/** The licence fields `data` lists, in the record's spelling. */
export function telemetryLicense(
  license: LicenseFields,
  data: readonly TelemetryLicenseField[],
): TelemetryLicense {
  const out: TelemetryLicense = {};
  for (const field of data) {
    switch (field) {
      case 'LicenseValidUntil':
        out.valid_until = license.validUntil?.toISOString() ?? null;
        break;
      case 'LicenseLicensee':
        out.licensee = license.licensee ?? null;
        break;
      case 'LicenseSerialNumber':
        out.serial_number = license.serialNumber ?? null;
        break;
      case 'LicenseIssuer':
        out.issuer = license.issuer ?? null;
        break;
    }
  }
  return out;
}

export type TelemetryParams = {
  config: TelemetryConfig;
  license: LicenseFields | null;
  version: string;
  publicAddress: string;
  usage: () => TelemetryUsage;
  logger: Logger;
  /** Called once after `max_consecutive_failures` failures in a row. */
  onFailing: () => void;
  clock?: Clock;
  /** Wall clock for `timestamp`. Default Date.now. */
  wallClock?: () => number;
};

export class Telemetry {
  /** Successful and failed sends, read by metrics. */
  readonly stats: OutcomeCounts = { successes: 0, failures: 0 };
  readonly #params: TelemetryParams;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #endpoint: string;
  readonly #authorization: string | undefined;
  readonly #shownUrl: string;
  readonly #startedAt: number;
  #timer: TimerHandle | undefined;
  #running = false;
  #sequence = 0;
  #failuresInRow = 0;
  #failed = false;

  constructor(params: TelemetryParams) {
    this.#params = params;
    this.#clock = params.clock ?? systemClock;
    this.#wallClock = params.wallClock ?? Date.now;
    const { endpoint, authorization } = splitUrlCredentials(params.config.address);
    this.#endpoint = endpoint;
    this.#authorization = authorization;
    this.#shownUrl = redactUrl(params.config.address);
    this.#startedAt = this.#clock.now();
  }

  get failuresInRow(): number {
    return this.#failuresInRow;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The record the next send would POST. */
  record(): TelemetryRecord {
    const { config, license, version, publicAddress, usage } = this.#params;
    return {
      schema: TELEMETRY_SCHEMA,
      server: 'grid',
      version,
      public_address: publicAddress,
      timestamp: new Date(this.#wallClock()).toISOString(),
      uptime_seconds: Math.floor((this.#clock.now() - this.#startedAt) / 1000),
      sequence: this.#sequence + 1,
      license: license === null ? null : telemetryLicense(license, config.data),
      usage: usage(),
    };
  }

  /** Sends one record now; true when it was accepted. */
  async sendNow(): Promise<boolean> {
    const { config, logger } = this.#params;
    const record = this.record();
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    let failure: string | undefined;
    try {
      const response = await fetch(this.#endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(record),
        signal: AbortSignal.timeout(Math.min(config.interval, MAX_SEND_TIMEOUT_MS)),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.status < 200 || response.status > 299) failure = `HTTP ${response.status}`;
    } catch (error) {
      const e = error as Error;
      failure =
        e.name === 'TimeoutError' ? 'timed out' : ((e.cause as Error | undefined)?.message ?? e.message);
    }
    if (failure === undefined) {
      this.#sequence = record.sequence;
      this.stats.successes++;
      if (this.#failuresInRow > 0)
        logger.info({ after: this.#failuresInRow }, 'telemetry: sending works again');
      this.#failuresInRow = 0;
      return true;
    }
    this.stats.failures++;
    this.#failuresInRow++;
    const max = config.max_consecutive_failures;
    logger.warn(
      { address: this.#shownUrl, reason: failure, failures: this.#failuresInRow, max },
      'telemetry: sending a record failed',
    );
    if (max !== undefined && this.#failuresInRow >= max && !this.#failed) {
      this.#failed = true;
      logger.error(
        { address: this.#shownUrl, failures: this.#failuresInRow },
        `telemetry: ${this.#failuresInRow} sends in a row failed ([telemetry] max_consecutive_failures = ${max}): draining and stopping (exit 1)`,
      );
      this.stop();
      this.#params.onFailing();
    }
    return false;
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.sendNow().then(() => this.#schedule(this.#params.config.interval));
    }, ms);
  }
}
