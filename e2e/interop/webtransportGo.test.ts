/**
 * Interop with webtransport-go v0.13.0 (the current draft, draft-ietf-webtrans-http3-15/16, on
 * quic-go), built from the Go module proxy by e2e/interop/build-webtransport-go.sh and cached.
 * Its client, e2e/interop/webtransport-go/main.go, is an ODIN client written from
 * docs/protocol.md like aioquic_client.py.
 *
 * webtransport-go requires the QUIC `reset_stream_at` transport parameter
 * (draft-ietf-quic-reliable-stream-reset) of the server, and resets its streams with
 * RESET_STREAM_AT when it closes a session. The native engine has it through
 * native/quic/patches/quiche-0.30.0-reset-stream-at.patch: the client joins and leaves a room
 * 20 times (more streams than the server's first WT_MAX_STREAMS grant, with a 256-byte data
 * window of its own for the server), joins again, exchanges voice with our Node client byte for
 * byte, and closes cleanly. (The removed @matrixai/quic engine, quiche 0.18, refused it.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OdinQuicClient } from '../../client/quic/odinQuicClient.ts';
import { startTestGrid, type TestGrid } from '../../test/helpers/testGrid.ts';
import { voicePackets } from '../../test/helpers/voice.ts';
import { waitFor } from '../../test/helpers/waitFor.ts';
import { freeUdpPort } from '../../test/transports/quic/helpers.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const COUNT = 50;
const BURST = 16;

type Line = { event: string; [key: string]: unknown };

describe('webtransport-go v0.13.0, an independent current-draft client, on [quic]', () => {
  let probe: string;
  let grid: TestGrid;
  let port: number;

  before(async () => {
    // About 30 s to a minute cold (module downloads shared with the e2e control plane), then cached.
    probe = execFileSync('bash', [`${here}build-webtransport-go.sh`], { encoding: 'utf8' }).trim();
    port = await freeUdpPort();
    grid = await startTestGrid({ toml: `[quic]\nbinding = "127.0.0.1:${port}"\n` });
  });
  after(async () => {
    await grid?.close();
  });

  async function serverStillServes(): Promise<void> {
    const ours = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true, draft: 'current' });
    assert.equal(await ours.main.request('Ping', {}), null);
    await ours.close();
  }

  test(`joins, exchanges ${COUNT} voice datagrams each way byte for byte, outgrows the stream grant, closes cleanly`, async () => {
    const room = 'interop-webtransport-go';
    const ours = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    const heard: Uint8Array[] = [];
    ours.onVoice = (bytes) => heard.push(Uint8Array.from(bytes));
    const ourRoom = await ours.joinRoom(await grid.token(room, 'node'), room);
    await ourRoom.startMedia();

    const child = spawn(
      probe,
      [`https://127.0.0.1:${port}/main`, room, await grid.token(room, 'webtransport-go'), String(COUNT)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const lines: Line[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Line));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const event = (name: string) => lines.find((line) => line.event === name || line.event === 'error');
    try {
      await waitFor(
        () => event('ready') !== undefined,
        'the webtransport-go client joined and started its media',
      );
      assert.equal(event('ready')!.event, 'ready', JSON.stringify(lines) + stderr);
      const session = lines.find((line) => line.event === 'session')!;
      assert.equal(session.status, '200');
      assert.equal(session.reset_at_peer, true, 'the server advertised reset_stream_at');
      // 20 joins and leaves before this one, each on a new room stream: with the main stream more
      // than the 16 of WT_INITIAL_MAX_STREAMS_BIDI, so the server raised WT_MAX_STREAMS as they
      // ended (webtransport-go enforces the grant since it sets limits of its own).
      assert.deepEqual(
        lines.find((line) => line.event === 'rejoined'),
        { event: 'rejoined', count: 20 },
      );
      await waitFor(() => grid.sfu.getRoom('', room)?.peers.size === 2, 'both peers in the room');

      child.stdin.write('go\n');
      // In bursts of at most 16, each sent when the client has read the last: quic-go's http3
      // keeps 32 unread datagrams per session and drops the rest, and a burst of 50 arrives
      // faster than its reader goroutine is scheduled.
      const fromUs = voicePackets(ourRoom.mediaId, COUNT);
      const heardByThem = () =>
        Math.max(0, ...lines.filter((l) => l.event === 'heard').map((l) => l.count as number));
      for (let start = 0; start < COUNT; start += BURST) {
        for (const packet of fromUs.slice(start, start + BURST)) assert.ok(ours.sendVoice(packet));
        const upTo = Math.min(COUNT, start + BURST);
        await waitFor(
          () => heardByThem() >= upTo || event('done') !== undefined,
          `our voice ${upTo} at the client`,
        );
      }
      await waitFor(() => event('done') !== undefined, 'the webtransport-go client done');
      const done = event('done')!;
      assert.equal(done.event, 'done', JSON.stringify(done) + stderr);
      assert.equal(await exited, 0, stderr);

      // Byte for byte, both ways (datagrams are unreliable, but nothing is lost on loopback).
      assert.deepEqual(
        done.received,
        fromUs.map((packet) => Buffer.from(packet).toString('hex')),
      );
      await waitFor(() => heard.length >= COUNT, 'the webtransport-go voice at our client');
      assert.deepEqual(
        heard.map((packet) => Buffer.from(packet).toString('hex')),
        done.sent,
      );
      // Closed cleanly: the server answered WT_CLOSE_SESSION (and the RESET_STREAM_AT of the
      // client's streams) by ending the CONNECT stream, and the peer left.
      assert.equal(done.clean_close, true);
      await waitFor(() => grid.sfu.getRoom('', room)?.peers.size === 1, 'the webtransport-go peer left');
      assert.deepEqual(grid.logs.errors, [], 'no error logged by the server');
      await serverStillServes();
    } finally {
      child.kill();
      await ours.close().catch(() => {});
    }
  });
});
