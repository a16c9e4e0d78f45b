/**
 * Interop with a WebTransport client we did not write: aioquic (PyPI, installed by
 * e2e/setup/aioquic.sh into a venv under ~/.cache/odin-grid) runs e2e/interop/aioquic_client.py,
 * an ODIN client written from docs/protocol.md. Against a real grid it joins a room with a test
 * fixture token, exchanges voice datagrams byte for byte with our Node client in the same room,
 * and closes the session cleanly, once speaking WebTransport draft-02 and once the current draft
 * (SETTINGS_WT_ENABLED, `webtransport-h3`, session flow control with a 256-byte window it grants).
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

type Line = { event: string; [key: string]: unknown };

describe('aioquic, an independent WebTransport client, on [quic]', () => {
  let python: string;
  let grid: TestGrid;
  let port: number;

  before(async () => {
    // Installs on first use (under a minute from PyPI), then only checks its stamp.
    python = execFileSync('bash', [`${here}../setup/aioquic.sh`], { encoding: 'utf8' }).trim();
    port = await freeUdpPort();
    grid = await startTestGrid({ toml: `[quic]\nbinding = "127.0.0.1:${port}"\n` });
  });
  after(async () => {
    await grid?.close();
  });

  for (const draft of ['draft02', 'current'] as const) {
    test(`${draft}: joins, exchanges ${COUNT} voice datagrams each way byte for byte, closes cleanly`, async (t) => {
      const room = `interop-${draft}`;
      const ours = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
      const heard: Uint8Array[] = [];
      ours.onVoice = (bytes) => heard.push(Uint8Array.from(bytes));
      const ourRoom = await ours.joinRoom(await grid.token(room, 'node'), room);
      await ourRoom.startMedia();

      const child = spawn(
        python,
        [
          `${here}aioquic_client.py`,
          '127.0.0.1',
          String(port),
          room,
          await grid.token(room, 'aioquic'),
          draft,
          String(COUNT),
        ],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const lines: Line[] = [];
      createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Line));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const event = (name: string) => lines.find((line) => line.event === name || line.event === 'error');
      try {
        await waitFor(() => event('ready') !== undefined, 'the aioquic client joined and started its media');
        assert.equal(event('ready')!.event, 'ready', JSON.stringify(lines) + stderr);
        const session = lines.find((line) => line.event === 'session')!;
        assert.equal(session.status, '200');
        assert.equal(
          session.draft_header,
          draft === 'draft02' ? 'draft02' : '',
          'the draft-02 answer header only for draft-02',
        );
        assert.equal(session.server_wt_enabled, 1, 'the server announces SETTINGS_WT_ENABLED');
        await waitFor(() => grid.sfu.getRoom('', room)?.peers.size === 2, 'both peers in the room');

        child.stdin.write('go\n');
        const fromUs = voicePackets(ourRoom.mediaId, COUNT);
        for (const packet of fromUs) assert.ok(ours.sendVoice(packet));
        await waitFor(() => event('done') !== undefined, 'the aioquic client done');
        const done = event('done')!;
        assert.equal(done.event, 'done', JSON.stringify(done) + stderr);
        assert.equal(await exited, 0, stderr);
        t.diagnostic(
          `capsules from the server: ${JSON.stringify(done.capsules)}; stream bytes received ${done.stream_bytes_received}, granted ${done.granted_data}`,
        );

        // Byte for byte, both ways (datagrams are unreliable, but nothing is lost on loopback).
        const received = (done.received as string[]).map((hex) => Buffer.from(hex, 'hex'));
        assert.deepEqual(
          received.map((packet) => packet.toString('hex')),
          fromUs.map((packet) => Buffer.from(packet).toString('hex')),
        );
        await waitFor(() => heard.length >= COUNT, 'the aioquic voice at our client');
        assert.deepEqual(
          heard.map((packet) => Buffer.from(packet).toString('hex')),
          done.sent,
        );

        // Closed cleanly: the server answered the CLOSE capsule with FIN and the peer left.
        await waitFor(() => grid.sfu.getRoom('', room)?.peers.size === 1, 'the aioquic peer left');
        if (draft === 'current') {
          // The server's notifications overran the 256-byte window the client granted: it
          // waited (WT_DATA_BLOCKED) and went on when the client's WT_MAX_DATA came.
          assert.ok((done.stream_bytes_received as number) > 256, JSON.stringify(done));
          assert.ok((done.capsules as string[]).includes('WT_DATA_BLOCKED'), JSON.stringify(done.capsules));
          assert.ok((done.granted_data as number) >= (done.stream_bytes_received as number));
        } else {
          assert.deepEqual(done.capsules, [], 'no capsule a draft-02 client does not know');
        }
      } finally {
        child.kill();
        await ours.close().catch(() => {});
      }
    });
  }
});
