/**
 * The real `@4players/odin` 0.16.0 web SDK on a network that blocks UDP: voice reaches the other
 * page over ICE-TCP (RFC 6544), through the `webrtc_binding` port number on TCP.
 *
 * Needs root: the test re-runs itself under `unshare --net`, in a network namespace of its own
 * with loopback and a veth pair (10.99.0.1 for the server's WebRTC address, 10.99.0.2 for the
 * browser's side), and nftables dropping every UDP packet in the namespace. Browser, page server
 * and `grid` all run in there; the SDK's WebSockets use TCP as usual. Packages: iproute2
 * (`ip`), nftables (`nft`), util-linux (`unshare`); e2e/setup/netns.sh installs them.
 *
 * The verdict is the one of web-sdk.test.ts (B decodes A's audio: packets_processed grows by 100
 * with at most 10% lost or invalid), plus: both pages' selected candidate pair is TCP, and the
 * namespace's UDP drop counter shows the browsers did try UDP first.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TokenGenerator } from '@4players/odin-tokens';
import type { Browser } from 'playwright-core';
import { ensureChromium, launchChromium, type PageServer, servePage } from './browser.ts';
import { type GridServer, startGridServer } from './gridServer.ts';
import { OdinPage } from './odinPage.ts';
import { buildHarnessBundle } from './sdkBundle.ts';
import { assertDecodesAudio, findEvent as find } from './verdicts.ts';
import { sineWav } from './wav.ts';

const IN_NAMESPACE = 'ODIN_E2E_NO_UDP_NAMESPACE';
const SERVER_IP = '10.99.0.1';
const BROWSER_IP = '10.99.0.2';
const netnsSetupScript = join(import.meta.dirname, '..', 'setup', 'netns.sh');

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
}

/** Loopback up, a veth pair with the two addresses, and nftables dropping all UDP. */
function setUpNamespace(): void {
  run('ip', ['link', 'set', 'lo', 'up']);
  run('ip', ['link', 'add', 'grid0', 'type', 'veth', 'peer', 'name', 'browser0']);
  run('ip', ['addr', 'add', `${SERVER_IP}/24`, 'dev', 'grid0']);
  run('ip', ['addr', 'add', `${BROWSER_IP}/24`, 'dev', 'browser0']);
  run('ip', ['link', 'set', 'grid0', 'up']);
  run('ip', ['link', 'set', 'browser0', 'up']);
  run(
    'nft',
    ['-f', '-'],
    [
      'table inet no_udp {',
      '  chain output { type filter hook output priority 0; meta l4proto udp counter drop; }',
      '}',
    ].join('\n'),
  );
}

/** Packets the namespace's UDP rule dropped so far. */
function droppedUdpPackets(): number {
  const match = /counter packets (\d+)/.exec(run('nft', ['list', 'chain', 'inet', 'no_udp', 'output']));
  assert.ok(match, 'the no_udp rule has a counter');
  return Number(match[1]);
}

if (process.env[IN_NAMESPACE] !== '1') {
  test('the web SDK over ICE-TCP, in a network namespace where UDP is dropped', {
    timeout: 1_500_000,
  }, async () => {
    assert.equal(process.getuid?.(), 0, 'this e2e test needs root (unshare --net, nft)');
    execFileSync('bash', [netnsSetupScript], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    ensureChromium();
    // NODE_TEST_CONTEXT would make the child's runner skip its files (a run inside a test).
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(
      'unshare',
      [
        '--net',
        process.execPath,
        '--test',
        '--test-reporter=spec',
        '--test-timeout=1200000',
        import.meta.filename,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, [IN_NAMESPACE]: '1' } },
    );
    let report = '';
    child.stdout.on('data', (chunk: Buffer) => {
      report += chunk.toString('utf8');
      process.stderr.write(chunk);
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.match(report, /ℹ pass 2\b/, 'both tests ran inside the namespace');
    assert.equal(code, 0, 'the test inside the namespace passed (its report is above)');
  });
} else {
  describe('the real @4players/odin 0.16.0 web SDK with UDP blocked', { timeout: 1_200_000 }, () => {
    let dir: string;
    let grid: GridServer;
    let pageServer: PageServer;
    let browser: Browser;
    let tokens: TokenGenerator;

    before(
      async () => {
        setUpNamespace();
        dir = mkdtempSync(join(tmpdir(), 'odin-grid-e2e-tcp-'));
        const wavFile = join(dir, 'tone-440hz.wav');
        writeFileSync(wavFile, sineWav({ frequency: 440, seconds: 4 }));
        grid = await startGridServer({ webRtcHost: SERVER_IP });
        tokens = new TokenGenerator(grid.accessKey);
        pageServer = await servePage(await buildHarnessBundle());
        browser = await launchChromium({
          fakeAudioFile: wavFile,
          trustedCertificatesPem: [grid.certificatePem],
        });
      },
      { timeout: 300_000 },
    );

    after(async () => {
      await browser?.close();
      await pageServer?.close();
      await grid?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('UDP really is dropped in here', async () => {
      const before = droppedUdpPackets();
      const socket = createSocket('udp4');
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.from('probe'), grid.webRtcPort, SERVER_IP, (error) =>
          error ? reject(error) : resolve(),
        ),
      ).catch(() => {});
      socket.close();
      assert.ok(droppedUdpPackets() > before, 'the probe datagram was counted as dropped');
    });

    test('page B hears page A, and both pages talk to the server over TCP', {
      timeout: 180_000,
    }, async () => {
      const a = await OdinPage.open(browser, 'page A', pageServer.url);
      const b = await OdinPage.open(browser, 'page B', pageServer.url);
      try {
        const droppedBefore = droppedUdpPackets();
        const room = `tcp-${Math.random().toString(36).slice(2, 8)}`;
        const joinedA = await a.join(tokens.createToken(room, 'alice'), grid.gatewayUrl);
        await b.join(tokens.createToken(room, 'bob'), grid.gatewayUrl);

        const { mediaId } = await a.startMicrophone();
        await b.waitFor('MediaStarted of A', (s) =>
          find(s.events, 'MediaStarted', (e) => e.remote && e.mediaId === mediaId),
        );
        await assertDecodesAudio(b, mediaId, 30_000);

        for (const [name, page] of [
          ['page A', a],
          ['page B', b],
        ] as const) {
          const stats = await page.webRtcStats();
          assert.ok(stats.available, `${name}: the SDK has an RTCPeerConnection`);
          assert.equal(stats.dtlsState, 'connected', `${name}: DTLS connected`);
          assert.equal(stats.remoteProtocol, 'tcp', `${name}: ${JSON.stringify(stats)}`);
          assert.equal(stats.localProtocol, 'tcp', `${name}: ${JSON.stringify(stats)}`);
          assert.equal(stats.remoteAddress, SERVER_IP, `${name}: ${JSON.stringify(stats)}`);
          assert.equal(
            stats.remotePort,
            grid.webRtcPort,
            `${name}: the pair ends at the webrtc_binding port`,
          );
        }
        assert.ok(droppedUdpPackets() > droppedBefore, 'the browsers tried UDP, and it was dropped');
        assert.ok(joinedA.ownPeerId > 0);
      } catch (error) {
        if (error instanceof Error) {
          error.message += `\n--- ${a.describe()}\n--- ${b.describe()}\n--- grid log:\n${grid.log().slice(-40).join('\n')}`;
        }
        throw error;
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
