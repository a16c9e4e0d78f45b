/**
 * Headless Chromium (Debian's package, driven by playwright-core) and the test page it loads.
 *
 * Flags, and why (docs/e2e-browser.md has the long form):
 * - `--no-sandbox`: CI runs as root, where Chromium's sandbox refuses to start.
 * - `--disable-gpu`: no GPU on these machines.
 * - `--disable-background-networking --disable-component-update --disable-sync --no-first-run
 *   --disable-quic`: the machine's network is closed; without these Chromium keeps trying to
 *   reach Google's hosts at start and in the background.
 * - `--use-fake-ui-for-media-stream`: grant getUserMedia without a prompt;
 *   `--use-fake-device-for-media-stream --use-file-for-fake-audio-capture=F`: the microphone is
 *   a WAV file (a steady tone; the built-in beep gave the SDK unreliable audio).
 * - `--autoplay-policy=no-user-gesture-required`: the SDK awaits `AudioContext.resume()` in
 *   `initRoom`, which without a user gesture would never resolve.
 * - `--ignore-certificate-errors-spki-list=<hash>`: trust exactly the server's self-signed key,
 *   for fetch (gateway Connect) and the WebSockets; nothing else is exempted.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';
export const chromiumSetupScript = join(import.meta.dirname, '..', 'setup', 'chromium.sh');

/**
 * Makes sure Debian's Chromium is installed: runs e2e/setup/chromium.sh (idempotent; installs
 * with apt-get when missing) and fails with a message naming the script when that fails.
 */
export function ensureChromium(): void {
  if (existsSync(chromiumPath)) return;
  try {
    execFileSync('bash', [chromiumSetupScript], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 600_000,
    });
  } catch (error) {
    throw new Error(
      `${chromiumPath} is missing and ${chromiumSetupScript} could not install it ` +
        `(${(error as Error).message}); run 'bash e2e/setup/chromium.sh' as root`,
    );
  }
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumSetupScript} ran but ${chromiumPath} is still missing`);
  }
}

/** Base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the form Chromium's SPKI list wants. */
export function spkiHash(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export type LaunchOptions = {
  /** The fake microphone's WAV file. */
  fakeAudioFile: string;
  /** The server certificate(s) to trust. */
  trustedCertificatesPem: readonly string[];
};

/**
 * Debian's headless Chromium, kept off the network: on a closed machine its background
 * services would otherwise try to reach Google's hosts at every start. `extraArgs` add what a
 * test needs (fake media, certificate trust, `--disable-quic`).
 */
export async function launchHeadlessChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  ensureChromium();
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

/** Chromium for the web SDK tests: fake microphone, autoplay, the server certificate trusted. */
export function launchChromium(options: LaunchOptions): Promise<Browser> {
  return launchHeadlessChromium([
    // The SDK's traffic is WebSocket and WebRTC; no QUIC needed.
    '--disable-quic',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${options.fakeAudioFile}`,
    '--autoplay-policy=no-user-gesture-required',
    `--ignore-certificate-errors-spki-list=${options.trustedCertificatesPem.map(spkiHash).join(',')}`,
  ]);
}

export type PageServer = { url: string; close: () => Promise<void> };

/**
 * Serves the test page and its script on http://127.0.0.1:<port>/ (loopback counts as a secure
 * context, which getUserMedia and AudioWorklet need).
 */
export async function servePage(script: string): Promise<PageServer> {
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>ODIN web SDK e2e</title>' +
    '<script src="/harness.js"></script></head><body>ODIN web SDK e2e</body></html>';
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(html);
    } else if (path === '/harness.js') {
      response.writeHead(200, {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'no-store',
      });
      response.end(script);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
