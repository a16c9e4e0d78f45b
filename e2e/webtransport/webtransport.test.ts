/**
 * Headless Chromium's own `new WebTransport(url, {serverCertificateHashes})` against a real
 * grid's `[quic]` listener (docs/protocol.md): it joins a room through our RPC (generation B
 * JoinRoom on the main stream, the room stream bound by stream id) and exchanges voice
 * datagrams with a Node native peer; a web (WebRTC) peer in the same room hears it too, byte
 * for byte. The certificate is a development one (ECDSA P-256, 13 days), trusted only through
 * its SHA-256 in `serverCertificateHashes`.
 *
 * Chromium runs without `--disable-quic` here (the SDK tests disable QUIC; WebTransport needs it).
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decode, encode } from '@msgpack/msgpack';
import type { Browser, Page } from 'playwright-core';
import { OdinQuicClient } from '../../client/quic/odinQuicClient.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { eventually, startTestGrid, type TestGrid } from '../../test/helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../../test/helpers/voice.ts';
import { freeUdpPort } from '../../test/transports/quic/helpers.ts';
import { launchHeadlessChromium } from '../sdk/browser.ts';
import { installWebTransportHarness, type WebTransportHarness } from './page.ts';

describe('Chromium WebTransport on the [quic] listener', () => {
  let dir: string;
  let grid: TestGrid;
  let quicPort: number;
  let certificateSha256: number[];
  let browser: Browser;
  let pageServer: Server;
  let pageUrl: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'odin-wt-e2e-'));
    const certificate = await createDevCertificate(['localhost', '127.0.0.1']);
    await writeFile(join(dir, 'cert.pem'), certificate.certificatePem);
    await writeFile(join(dir, 'key.pem'), certificate.privateKeyPem, { mode: 0o600 });
    certificateSha256 = [
      ...createHash('sha256').update(new X509Certificate(certificate.certificatePem).raw).digest(),
    ];
    quicPort = await freeUdpPort();
    grid = await startTestGrid({
      toml: [
        '[quic]',
        `binding = "127.0.0.1:${quicPort}"`,
        `certificate_file = ${JSON.stringify(join(dir, 'cert.pem'))}`,
        `privatekey_file = ${JSON.stringify(join(dir, 'key.pem'))}`,
      ].join('\n'),
    });
    // A page on http://127.0.0.1 is a secure context (loopback), which WebTransport requires.
    pageServer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>wt</title>');
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    const address = pageServer.address();
    pageUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
    // QUIC stays enabled here: WebTransport runs over it.
    browser = await launchHeadlessChromium();
  });

  after(async () => {
    await browser?.close();
    await grid?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Runs a harness method in the page. */
  function call<K extends keyof WebTransportHarness>(
    page: Page,
    method: K,
    ...args: Parameters<WebTransportHarness[K]>
  ): Promise<Awaited<ReturnType<WebTransportHarness[K]>>> {
    return page.evaluate(
      ([name, list]) => {
        const api = (globalThis as unknown as { odinWt: Record<string, (...a: unknown[]) => unknown> })
          .odinWt;
        return api[name as string]!(...(list as unknown[]));
      },
      [method, args] as const,
    ) as Promise<Awaited<ReturnType<WebTransportHarness[K]>>>;
  }

  /** Waits for the next decoded message on a page stream. */
  async function nextMessage(page: Page, stream: number, predicate: (message: unknown[]) => boolean) {
    const seen: unknown[][] = [];
    const deadline = Date.now() + 5_000;
    for (;;) {
      const { messages } = await call(page, 'take', stream);
      for (const bytes of messages) {
        const message = decode(Uint8Array.from(bytes)) as unknown[];
        seen.push(message);
        if (predicate(message)) return message;
      }
      if (Date.now() > deadline) throw new Error(`no matching message; saw ${JSON.stringify(seen)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('the browser joins through our RPC and exchanges voice with native and web peers', async () => {
    const room = 'wt-room';
    const bob = await OdinQuicClient.connect({ host: '127.0.0.1', port: quicPort, insecure: true });
    grid.track(() => bob.close());
    const bobVoice: Uint8Array[] = [];
    bob.onVoice = (bytes) => bobVoice.push(Uint8Array.from(bytes));
    const bobRoom = await bob.joinRoom(await grid.token(room, 'bob'), room);
    await bobRoom.startMedia();

    const carol = await grid.connect('carol', room, { voice: true, localAddress: '127.0.0.1' });
    const carolInbox = new VoiceInbox(carol);
    await carol.joinRoom(room, { position: [0, 0] });

    const page = await browser.newPage();
    try {
      await page.goto(pageUrl);
      await page.evaluate(installWebTransportHarness);
      await call(page, 'connect', `https://127.0.0.1:${quicPort}/main`, certificateSha256);

      const main = await call(page, 'openStream');
      const token = await grid.token(room, 'alice');
      const join = { token, room_id: room, user_data: new Uint8Array([1, 2]), position: [0, 0] };
      await call(page, 'send', main, [...encodeRequest(0, 'JoinRoom', join)]);
      const response = await nextMessage(page, main, (m) => m[0] === 1 && m[1] === 0);
      assert.equal(response[2], null, `JoinRoom failed: ${JSON.stringify(response[2])}`);
      const { stream_id: streamId, peer_id: peerId } = response[3] as { stream_id: number; peer_id: number };

      const roomStream = await call(page, 'openStream');
      await call(page, 'send', roomStream, [...encode(streamId)]);
      const joined = await nextMessage(
        page,
        roomStream,
        (m) => m[0] === 2 && m[1] === 'RoomUpdated' && JSON.stringify(m[2]).includes('"Joined"'),
      );
      const update = (joined[2] as { updates: { kind: string; own_peer_id: number; media_ids: number[] }[] })
        .updates[0]!;
      assert.equal(update.own_peer_id, peerId);
      const mediaId = update.media_ids[update.media_ids.length - 1]!;
      await call(page, 'send', roomStream, [
        ...encodeRequest(1, 'StartMedia', { media_id: mediaId, properties: { kind: 'audio' } }),
      ]);
      const started = await nextMessage(page, roomStream, (m) => m[0] === 1 && m[1] === 1);
      assert.equal(started[2], null);
      await eventually(() => grid.sfu.getRoom('', room)?.peers.size === 3, 'three peers in the room');
      assert.ok((await call(page, 'maxDatagramSize')) >= 1000);

      // Browser -> native peer and web peer.
      const fromBrowser = voicePackets(mediaId, 15);
      await call(
        page,
        'sendDatagrams',
        fromBrowser.map((p) => [...p]),
      );
      await eventually(() => bobVoice.length >= 15, `bob to hear 15 packets (has ${bobVoice.length})`, 5_000);
      await carolInbox.waitFor(15);
      assert.ok(sameBytes(bobVoice, fromBrowser), 'the native peer got the browser packets unchanged');
      assert.ok(sameBytes(carolInbox.packets, fromBrowser), 'the web peer got the browser packets unchanged');

      // Native peer -> browser.
      const fromBob = voicePackets(bobRoom.mediaId, 15);
      for (const packet of fromBob) assert.ok(bob.sendVoice(packet));
      const received: Uint8Array[] = [];
      await eventually(
        () => {
          void call(page, 'takeDatagrams').then((list) => {
            for (const bytes of list) received.push(Uint8Array.from(bytes));
          });
          return received.length >= 15;
        },
        'the browser to receive 15 datagrams',
        5_000,
      );
      assert.ok(sameBytes(received.slice(0, 15), fromBob), 'the browser got the native packets unchanged');
      await call(page, 'close');
      await eventually(
        () => grid.sfu.getRoom('', room)?.peers.size === 2,
        'the browser peer to leave',
        5_000,
      );
    } finally {
      await page.close();
    }
  });
});
