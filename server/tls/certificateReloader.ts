/**
 * A listener's TLS certificate that renews itself: `certificate_file`/`privatekey_file` are
 * re-read when they change, and a new pair that passes the checks is handed to the listener
 * (`apply`) for new handshakes; connections already open keep the certificate they started with.
 *
 * Why both a watch and an interval: Kubernetes updates a mounted Secret by writing a new
 * timestamped directory and renaming the `..data` symlink over the old one (atomic_writer.go),
 * so `tls.crt` itself (a symlink to `..data/tls.crt`) never changes and a watch on the file's
 * old inode sees nothing. We watch the *directories* of the two files (the rename shows up
 * there), and re-check on an interval for everything a watch can miss (network filesystems,
 * a file replaced in another directory the path goes through, inotify limits). A `subPath`
 * mount never updates at all: the operator mounts the whole Secret (operator/render/workload.ts).
 *
 * A new pair is refused (the old one stays in service) when it does not parse, the key is not
 * the certificate's, or the certificate has expired; each distinct refused pair is logged once
 * and counted (`grid_tls_certificate_reloads_total{result="refused"}`). A certificate and key
 * written one after the other (not atomically) may be seen half-written: that pair is refused,
 * and the write of the second file brings the matching pair in.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** A checked certificate and key (PEM), with what logs and metrics show of it. */
export type CertificatePair = {
  certificatePem: string;
  privateKeyPem: string;
  /** SHA-256 of the leaf certificate's DER, hex. */
  sha256: string;
  notAfter: Date;
};

/** Plain counters and the current expiry (read by metrics on scrape). */
export type CertificateReloadStats = {
  /** New pairs taken into service. */
  reloads: number;
  /** New pairs refused (each distinct pair once). */
  refused: number;
  /** `notAfter` of the certificate in service, ms since the epoch. */
  notAfterMs: number;
};

/** Default for how often the files are re-read even without a watch event. */
export const CERTIFICATE_RECHECK_MS = 30_000;
/** Events of one swap (several renames and writes) are checked together after this pause. */
const SETTLE_MS = 100;

/**
 * Checks a certificate/key pair: both parse, the key is the certificate's, and (unless
 * `allowExpired`) the certificate has not expired at `now`. Throws an Error saying which.
 */
export function checkCertificatePair(
  certificatePem: string,
  privateKeyPem: string,
  now: Date,
  options: { allowExpired?: boolean } = {},
): CertificatePair {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch (error) {
    throw new Error(`the certificate is not a PEM X.509 certificate (${(error as Error).message})`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new Error(`the private key is not a PEM private key (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(key)) throw new Error('the private key is not the key of the certificate');
  const notAfter = certificate.validToDate;
  if (!options.allowExpired && notAfter.getTime() <= now.getTime()) {
    throw new Error(`the certificate expired at ${notAfter.toISOString()}`);
  }
  return {
    certificatePem,
    privateKeyPem,
    sha256: createHash('sha256').update(certificate.raw).digest('hex'),
    notAfter,
  };
}

export type CertificateReloaderParams = {
  certificateFile: string;
  privateKeyFile: string;
  /** `[http]` or `[quic]`, for logs. */
  section: string;
  logger: Logger;
  /** Puts a new pair into service; a throw refuses the pair (the old one stays). */
  apply: (pair: CertificatePair) => void;
  /** Re-check interval, ms. Default {@link CERTIFICATE_RECHECK_MS}. */
  recheckMs?: number;
  now?: () => Date;
};

export class CertificateReloader {
  readonly stats: CertificateReloadStats = { reloads: 0, refused: 0, notAfterMs: 0 };
  readonly #p: CertificateReloaderParams;
  readonly #now: () => Date;
  readonly #watchers: FSWatcher[] = [];
  #current: CertificatePair;
  /** The texts of the last refused pair: refused once, not on every re-check. */
  #lastRefused = '';
  #interval: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #again = false;
  #closed = false;

  private constructor(params: CertificateReloaderParams, initial: CertificatePair) {
    this.#p = params;
    this.#now = params.now ?? (() => new Date());
    this.#current = initial;
    this.stats.notAfterMs = initial.notAfter.getTime();
  }

  /**
   * Reads and checks the pair (the config loader checked it already; an expired one is only
   * warned about, as before reloading existed), then watches the files. The caller serves
   * `reloader.current` and gets later pairs through `apply`.
   */
  static async open(params: CertificateReloaderParams): Promise<CertificateReloader> {
    const [certificatePem, privateKeyPem] = await Promise.all([
      readFile(params.certificateFile, 'utf8'),
      readFile(params.privateKeyFile, 'utf8'),
    ]);
    const now = (params.now ?? (() => new Date()))();
    const initial = checkCertificatePair(certificatePem, privateKeyPem, now, { allowExpired: true });
    if (initial.notAfter.getTime() <= now.getTime()) {
      params.logger.warn(
        { file: params.certificateFile, notAfter: initial.notAfter.toISOString() },
        `${params.section} certificate has expired; clients will refuse it until it is renewed`,
      );
    }
    const reloader = new CertificateReloader(params, initial);
    reloader.#watch();
    return reloader;
  }

  /** The pair in service. */
  get current(): CertificatePair {
    return this.#current;
  }

  /** Re-reads the files now (the watch and the interval call this); resolves when done. */
  check(): Promise<void> {
    if (this.#checking !== undefined) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      try {
        do {
          this.#again = false;
          await this.#checkOnce();
        } while (this.#again && !this.#closed);
      } finally {
        this.#checking = undefined;
      }
    })();
    return this.#checking;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#interval);
    clearTimeout(this.#settle);
    for (const watcher of this.#watchers.splice(0)) watcher.close();
  }

  #watch(): void {
    const { certificateFile, privateKeyFile } = this.#p;
    const onEvent = () => {
      if (this.#closed) return;
      clearTimeout(this.#settle);
      this.#settle = setTimeout(() => void this.check(), SETTLE_MS);
      this.#settle.unref();
    };
    for (const dir of new Set([dirname(certificateFile), dirname(privateKeyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, onEvent);
        // A watch that fails later (the directory removed): the interval still re-checks.
        watcher.on('error', () => watcher.close());
        this.#watchers.push(watcher);
      } catch (error) {
        this.#p.logger.debug(
          { dir, error: (error as Error).message },
          'cannot watch the certificate directory; re-checking on the interval only',
        );
      }
    }
    this.#interval = setInterval(() => void this.check(), this.#p.recheckMs ?? CERTIFICATE_RECHECK_MS);
    this.#interval.unref();
  }

  async #checkOnce(): Promise<void> {
    const { certificateFile, privateKeyFile, section, logger } = this.#p;
    let texts: [string, string];
    try {
      texts = await Promise.all([readFile(certificateFile, 'utf8'), readFile(privateKeyFile, 'utf8')]);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      this.#refuse(`cannot read the files (${code})`, `read ${code}`);
      return;
    }
    if (this.#closed) return;
    const [certificatePem, privateKeyPem] = texts;
    if (certificatePem === this.#current.certificatePem && privateKeyPem === this.#current.privateKeyPem)
      return;
    // Identify a pair by a digest: the key's text is never kept beyond the pair in service.
    const identity = createHash('sha256')
      .update(certificatePem)
      .update('\0')
      .update(privateKeyPem)
      .digest('hex');
    if (identity === this.#lastRefused) return;
    let pair: CertificatePair;
    try {
      pair = checkCertificatePair(certificatePem, privateKeyPem, this.#now());
      this.#p.apply(pair);
    } catch (error) {
      this.#refuse((error as Error).message, identity);
      return;
    }
    const previous = this.#current;
    this.#current = pair;
    this.#lastRefused = '';
    this.stats.reloads++;
    this.stats.notAfterMs = pair.notAfter.getTime();
    logger.info(
      {
        file: certificateFile,
        sha256: pair.sha256,
        previousSha256: previous.sha256,
        notAfter: pair.notAfter.toISOString(),
      },
      `${section} certificate reloaded: new connections get the new certificate`,
    );
  }

  #refuse(reason: string, identity: string): void {
    if (identity === this.#lastRefused) return;
    this.#lastRefused = identity;
    this.stats.refused++;
    this.#p.logger.error(
      {
        certificateFile: this.#p.certificateFile,
        privateKeyFile: this.#p.privateKeyFile,
        reason,
        sha256: this.#current.sha256,
      },
      `${this.#p.section} certificate reload refused: ${reason}; the certificate in service stays`,
    );
  }
}
