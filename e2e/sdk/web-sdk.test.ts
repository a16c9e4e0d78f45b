/**
 * The real web SDK against the real server: headless Chromium loads a page running
 * `@4players/odin` 0.16.0 from npm, with tokens minted by `@4players/odin-tokens` 1.4.0, and
 * joins rooms on a `grid` child process (ODIN-PROTOCOL.md section 2; docs/e2e-browser.md).
 *
 * Everything between the two pages goes through the server: the gateway `Connect` POST, the
 * `/main` and `/room` WebSockets (MessagePack-RPC), and voice on the WebRTC data channel
 * "audio" through the single `webrtc_binding` UDP port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TokenGenerator } from '@4players/odin-tokens';
import type { Browser } from 'playwright-core';
import { ensureChromium, launchChromium, type PageServer, servePage } from './browser.ts';
import { type GridServer, parseLogLine, startGridServer } from './gridServer.ts';
import { OdinPage } from './odinPage.ts';
import { buildHarnessBundle } from './sdkBundle.ts';
import { assertDecodesAudio, findEvent as find } from './verdicts.ts';
import { sineWav } from './wav.ts';

let dir: string;
let grid: GridServer;
let pageServer: PageServer;
let browser: Browser;
let tokens: TokenGenerator;

function uniqueRoom(name: string): string {
  return `${name}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Opens pages A and B, runs `body`; on failure adds the pages' consoles and the server's log. */
async function withPages(body: (a: OdinPage, b: OdinPage) => Promise<void>): Promise<void> {
  const a = await OdinPage.open(browser, 'page A', pageServer.url);
  const b = await OdinPage.open(browser, 'page B', pageServer.url);
  try {
    await body(a, b);
  } catch (error) {
    if (error instanceof Error) {
      error.message +=
        `\n--- ${a.describe()}\n--- ${b.describe()}\n--- grid log (last 40 lines):\n` +
        grid.log().slice(-40).join('\n');
    }
    throw error;
  } finally {
    await a.close();
    await b.close();
  }
}

describe('the real @4players/odin 0.16.0 web SDK in headless Chromium', { timeout: 1_200_000 }, () => {
  before(
    async () => {
      // Installing Chromium on a clean machine takes a minute or two; the hook allows 15.
      ensureChromium();
      dir = mkdtempSync(join(tmpdir(), 'odin-grid-e2e-browser-'));
      const wavFile = join(dir, 'tone-440hz.wav');
      writeFileSync(wavFile, sineWav({ frequency: 440, seconds: 4 }));
      grid = await startGridServer();
      tokens = new TokenGenerator(grid.accessKey);
      pageServer = await servePage(await buildHarnessBundle());
      browser = await launchChromium({
        fakeAudioFile: wavFile,
        trustedCertificatesPem: [grid.certificatePem],
      });
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await browser?.close();
    await pageServer?.close();
    await grid?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('two pages join the same room, each sees the other, and messages arrive with their bytes', {
    timeout: 90_000,
  }, async () => {
    await withPages(async (a, b) => {
      const room = uniqueRoom('meet');
      const aliceData = new TextEncoder().encode('{"name":"Alice"}');
      const joinedA = await a.join(tokens.createToken(room, 'alice'), grid.gatewayUrl, aliceData);
      assert.equal(joinedA.roomId, room);
      assert.equal(joinedA.serverAddress, grid.publicAddress, 'Connect answered the server address');
      assert.deepEqual(joinedA.remotePeers, [], 'A is alone in a new room');

      const joinedB = await b.join(tokens.createToken(room, 'bob'), grid.gatewayUrl);
      assert.notEqual(joinedB.ownPeerId, joinedA.ownPeerId);
      // B learns of A from the Joined update (Room.peers), user id and user data included.
      assert.deepEqual(joinedB.remotePeers, [{ peerId: joinedA.ownPeerId, userId: 'alice' }]);
      const aliceSeenByB = find((await b.snapshot()).events, 'PeerJoined', (e) => e.remote);
      assert.deepEqual(aliceSeenByB?.userData, [...aliceData], "A's user data arrives as bytes");

      // A learns of B from a PeerJoined update.
      const bobSeenByA = await a.waitFor('PeerJoined of B', (s) =>
        find(s.events, 'PeerJoined', (e) => e.remote && e.peerId === joinedB.ownPeerId),
      );
      assert.equal(bobSeenByA.userId, 'bob');

      // Every byte value, so a bin/str mix-up or a re-encoding would show.
      const message = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
      await a.sendMessage(message);
      const received = await b.waitFor('MessageReceived from A', (s) => find(s.events, 'MessageReceived'));
      assert.equal(received.senderId, joinedA.ownPeerId);
      assert.deepEqual(received.message, [...message]);

      // A message addressed to one peer (target_peer_ids) reaches that peer.
      await b.sendMessage(Uint8Array.of(0, 0xc1, 0xff), [joinedA.ownPeerId]);
      const direct = await a.waitFor('MessageReceived from B', (s) => find(s.events, 'MessageReceived'));
      assert.equal(direct.senderId, joinedB.ownPeerId);
      assert.deepEqual(direct.message, [0, 0xc1, 0xff]);
      // A sender gets no echo of its own message.
      assert.equal(
        find((await a.snapshot()).events, 'MessageReceived', (e) => e.senderId === joinedA.ownPeerId),
        undefined,
      );
    });
  });

  test("page B hears page A: MediaStarted, then A's audio decoded, all over the one webrtc_binding port", {
    timeout: 120_000,
  }, async () => {
    await withPages(async (a, b) => {
      const room = uniqueRoom('talk');
      const joinedA = await a.join(tokens.createToken(room, 'alice'), grid.gatewayUrl);
      await b.join(tokens.createToken(room, 'bob'), grid.gatewayUrl);

      const { mediaId } = await a.startMicrophone();
      // B is told (PeerUpdated MediaStarted) and starts its decoder for that media.
      const started = await b.waitFor('MediaStarted of A', (s) =>
        find(s.events, 'MediaStarted', (e) => e.remote && e.mediaId === mediaId),
      );
      assert.equal(started.peerId, joinedA.ownPeerId);
      // B's decoder processes A's packets: up by 100, at most 10% lost or invalid.
      await assertDecodesAudio(b, mediaId);

      // The SDK says A's media is active (its talk status from decoded audio).
      const activity = await b.waitFor('MediaActivity of A (active)', (s) =>
        find(s.events, 'MediaActivity', (e) => e.mediaId === mediaId && e.active),
      );
      assert.equal(activity.peerId, joinedA.ownPeerId);

      // What the browsers see: each page's selected ICE pair ends at the server's one UDP port,
      // and A's data channel packets reach B (forwarded, not dropped).
      const statsA = await a.webRtcStats();
      const statsB = await b.webRtcStats();
      for (const [name, stats] of [
        ['page A', statsA],
        ['page B', statsB],
      ] as const) {
        assert.ok(stats.available, `${name}: the SDK has an RTCPeerConnection`);
        assert.equal(stats.dtlsState, 'connected', `${name}: DTLS connected`);
        assert.equal(stats.remoteProtocol, 'udp', `${name}: ${JSON.stringify(stats)}`);
        assert.equal(stats.remoteAddress, '127.0.0.1', `${name}: ${JSON.stringify(stats)}`);
        assert.equal(stats.remotePort, grid.webRtcPort, `${name}: the selected pair ends at webrtc_binding`);
      }
      const sent = statsA.available ? (statsA.audioChannel?.messagesSent ?? 0) : 0;
      const heard = statsB.available ? (statsB.audioChannel?.messagesReceived ?? 0) : 0;
      assert.ok(sent >= 100, `A sent voice packets on the "audio" channel: ${sent}`);
      assert.ok(heard >= sent * 0.8, `B received A's packets: sent ${sent}, received ${heard}`);
      // What the server holds: one UDP socket, the webrtc_binding port, for both peers.
      assert.deepEqual(grid.udpPorts(), [grid.webRtcPort], 'the grid process has exactly one UDP port open');

      // A leaves while talking: B sees its media stop and A leave.
      await a.leave();
      await b.waitFor('MediaStopped and PeerLeft of A', (s) =>
        find(s.events, 'MediaStopped', (e) => e.mediaId === mediaId) &&
        find(s.events, 'PeerLeft', (e) => e.peerId === joinedA.ownPeerId)
          ? true
          : undefined,
      );
    });
  });

  test('a page that leaves is gone for the other: PeerLeft, and the room goes on', {
    timeout: 90_000,
  }, async () => {
    await withPages(async (a, b) => {
      const room = uniqueRoom('leave');
      await a.join(tokens.createToken(room, 'alice'), grid.gatewayUrl);
      const joinedB = await b.join(tokens.createToken(room, 'bob'), grid.gatewayUrl);
      await a.waitFor('PeerJoined of B', (s) =>
        find(s.events, 'PeerJoined', (e) => e.peerId === joinedB.ownPeerId),
      );

      await b.leave();
      await a.waitFor('PeerLeft of B', (s) =>
        find(s.events, 'PeerLeft', (e) => e.peerId === joinedB.ownPeerId),
      );
      const afterLeave = await a.snapshot();
      assert.deepEqual(afterLeave.remotePeerIds, [], 'A is alone again');
      assert.equal(afterLeave.roomState, 'connected', "B's leaving does not disconnect A");
      const left = await b.snapshot();
      assert.equal(left.roomState, 'disconnected');
      assert.ok(find(left.events, 'Left'), 'B got its own Left event');
    });
  });

  test('the server refused no call of the SDK and logged no warning or error meanwhile', () => {
    const complaints = grid
      .log()
      .map((line) => ({ line, entry: parseLogLine(line) }))
      .filter(({ line, entry }) => {
        if (entry === undefined) return line.trim() !== ''; // not JSON: a crash or a stray print
        if (entry.msg?.startsWith('licence: none')) return false; // no license.toml, on purpose
        return (entry.level ?? 0) >= 40 || entry.msg === 'RPC call rejected';
      })
      .map(({ line }) => line);
    assert.deepEqual(complaints, []);
  });
});
