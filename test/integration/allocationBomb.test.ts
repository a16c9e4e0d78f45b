/**
 * Issue 14, defect 1, against the real `grid` process with a capped heap: 3 KB MessagePack
 * frames of nested array16/map16/array32 headers (each declaring ~65,000 or a few hundred
 * elements) sent where an attacker can send them without a token: on a TLS WebSocket to
 * `/main`, as the first message of the QUIC main stream and as the first message of a QUIC
 * room stream. Before the fix one such frame ran a 512 MB heap out of memory. Now each
 * attacker gets a protocol error, the process lives, its memory stays near the baseline and a
 * web pair and a QUIC pair keep exchanging messages (and the QUIC pair voice).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { OdinClient, type OdinRoom } from '../../client/odinClient.ts';
import { OdinQuicClient, RpcStream } from '../../client/quic/odinQuicClient.ts';
import { accessKeyToJwk, generateAccessKey, signToken } from '../../common/auth/index.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { encodeMsgpack } from '../../server/protocol/msgpackRpc.ts';
import { rpcFrameBomb } from '../helpers/msgpackBombs.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { bytes, text } from '../helpers/rooms.ts';
import { eventually, LOOPBACK } from '../helpers/testGrid.ts';
import { voicePackets } from '../helpers/voice.ts';
import { freeUdpPort } from '../transports/quic/helpers.ts';

const gridMain = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
/** The heap the server gets: a fifth of what one unbounded decode of a bomb reserved. */
const HEAP_MB = 96;
/** Bombs per attack path. */
const ROUNDS = 20;

function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, LOOPBACK, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resident memory of a process in bytes (Linux /proc), or undefined elsewhere. */
function rssOf(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

async function retry<T>(what: string, attempt: () => Promise<T>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe(
  'MessagePack allocation bombs against a real grid process with a capped heap',
  needsNativeAddon,
  () => {
    let dir = '';
    let child: ChildProcess;
    let stderr = '';
    let address = '';
    let quicPort = 0;
    let ca = '';
    let accessKey = '';
    const closers: (() => Promise<unknown> | unknown)[] = [];
    let web: { alice: OdinRoom; bob: OdinRoom };
    let native: { carol: OdinRoom; dave: OdinRoom; carolClient: OdinQuicClient; daveClient: OdinQuicClient };

    const token = (room: string, user: string) => signToken(accessKey, { rid: room, uid: user });

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'grid-bomb-'));
      const certificate = await createDevCertificate([LOOPBACK, 'localhost']);
      ca = certificate.certificatePem;
      await writeFile(join(dir, 'cert.pem'), certificate.certificatePem);
      await writeFile(join(dir, 'key.pem'), certificate.privateKeyPem, { mode: 0o600 });
      accessKey = generateAccessKey();
      const jwk = accessKeyToJwk(accessKey);
      const httpPort = await freeTcpPort();
      quicPort = await freeUdpPort();
      address = `${LOOPBACK}:${httpPort}`;
      const tls = `certificate_file = "${join(dir, 'cert.pem')}"\nprivatekey_file = "${join(dir, 'key.pem')}"`;
      await writeFile(
        join(dir, 'config.toml'),
        [
          `public_address = "${LOOPBACK}"`,
          '[[authorization.keys]]',
          ...Object.entries(jwk).map(([key, value]) => `${key} = "${value}"`),
          '[http]',
          `binding = "${address}"`,
          `webrtc_binding = "${LOOPBACK}:0"`,
          `webrtc_candidates = ["${LOOPBACK}"]`,
          tls,
          '[quic]',
          `binding = "${LOOPBACK}:${quicPort}"`,
          tls,
          '[log.terminal]',
          'verbosity = 0',
        ].join('\n'),
      );
      child = spawn(
        process.execPath,
        [`--max-old-space-size=${HEAP_MB}`, gridMain, '--config', join(dir, 'config.toml')],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-4000);
      });

      const connectWeb = async (user: string) => {
        const client = await retry('web connect', async () =>
          OdinClient.connect(address, await token('bombs', user), {
            ca,
            voice: false,
            localAddress: LOOPBACK,
          }),
        );
        closers.push(() => client.close());
        return client.joinRoom('bombs');
      };
      web = { alice: await connectWeb('alice'), bob: await connectWeb('bob') };
      const connectNative = async (user: string) => {
        const client = await retry('QUIC connect', () =>
          OdinQuicClient.connect({ host: LOOPBACK, port: quicPort, insecure: true }),
        );
        closers.push(() => client.close());
        return { client, room: await client.joinRoom(await token('bombs-quic', user), 'bombs-quic') };
      };
      const carol = await connectNative('carol');
      const dave = await connectNative('dave');
      native = { carol: carol.room, dave: dave.room, carolClient: carol.client, daveClient: dave.client };
      await native.carol.startMedia();
    });

    after(async () => {
      // Bounded: a client of a dead server would wait for its idle timeout.
      const settled = Promise.allSettled(closers.map((close) => close()));
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
      await rm(dir, { recursive: true, force: true });
    });

    /** Both pairs still talk: a web message, a QUIC message and QUIC voice. */
    async function pairsStillTalk(round: string): Promise<void> {
      assert.equal(child.exitCode, null, `the grid process died: ${stderr}`);
      const webMessage = web.bob.next('message');
      await web.alice.sendMessage(bytes(`web ${round}`));
      assert.equal(text((await webMessage)[0].message), `web ${round}`);
      const quicMessage = native.dave.next('message');
      await native.carol.sendMessage(bytes(`quic ${round}`));
      assert.equal(text((await quicMessage)[0].message), `quic ${round}`);
      const heard: Uint8Array[] = [];
      native.daveClient.onVoice = (packet) => heard.push(packet);
      for (const packet of voicePackets(native.carol.mediaId, 3)) native.carolClient.sendVoice(packet);
      await eventually(() => heard.length >= 1, 'QUIC voice from carol to dave');
    }

    test('bombs on /main before any token, on the QUIC main stream and as a QUIC room stream id: protocol errors, the process and the pairs live', async (t) => {
      await pairsStillTalk('before');
      const baseline = rssOf(child.pid!);
      const bombs = [rpcFrameBomb(3000), rpcFrameBomb(3000, 200)];
      for (let round = 0; round < ROUNDS; round++) {
        const bomb = bombs[round % bombs.length]!;

        // A TLS WebSocket on /main, before any token.
        const socket = new WebSocket(`wss://${address}/main`, { ca, perMessageDeflate: false });
        closers.push(() => socket.terminate());
        await once(socket, 'open');
        const closed = once(socket, 'close') as Promise<[number, Buffer]>;
        socket.send(bomb);
        const [code, reason] = await closed;
        assert.equal(code, 4000);
        assert.match(reason.toString('utf8'), /^protocol error: malformed MessagePack: /);

        // A QUIC session whose main stream's first message is the bomb.
        const mainAttacker = await OdinQuicClient.connect({ host: LOOPBACK, port: quicPort, insecure: true });
        closers.push(() => mainAttacker.close());
        mainAttacker.main.sendRaw(bomb);
        await eventually(() => mainAttacker.closeInfo !== undefined, 'the attacker session closed');
        assert.match(mainAttacker.closeInfo!.reason, /protocol error: malformed MessagePack/);

        // A QUIC room stream whose first message (the stream id) is the bomb: the stream is reset,
        // the session that sent it keeps working.
        const roomAttacker = await OdinQuicClient.connect({ host: LOOPBACK, port: quicPort, insecure: true });
        closers.push(() => roomAttacker.close());
        const stream = new RpcStream(roomAttacker.transport.session.openBidiStream(), 2_000);
        stream.sendRaw(bomb);
        await eventually(() => stream.ended, 'the room stream reset');
        assert.equal(await roomAttacker.main.request('Ping', {}), null);
        await roomAttacker.close();
        await mainAttacker.close();
      }
      await pairsStillTalk('after');
      const now = rssOf(child.pid!);
      if (baseline !== undefined && now !== undefined) {
        t.diagnostic(
          `grid RSS ${Math.round(baseline / 2 ** 20)} MB before, ${Math.round(now / 2 ** 20)} MB after ${ROUNDS * 3} bombs (heap cap ${HEAP_MB} MB)`,
        );
        // An unbounded decoder reserved hundreds of MB per bomb; a bounded one keeps the frame.
        assert.ok(
          now - baseline < 64 * 1024 * 1024,
          `RSS grew from ${Math.round(baseline / 2 ** 20)} MB to ${Math.round(now / 2 ** 20)} MB`,
        );
      }
      // A well-formed request on a fresh /main socket is still answered (Ping needs no token).
      const socket = new WebSocket(`wss://${address}/main`, { ca, perMessageDeflate: false });
      closers.push(() => socket.terminate());
      await once(socket, 'open');
      const answer = once(socket, 'message') as Promise<[Buffer]>;
      socket.send(encodeMsgpack([0, 7, 'Ping', {}]));
      assert.ok((await answer)[0].byteLength > 0);
      assert.equal(child.exitCode, null, `the grid process died: ${stderr}`);
    });
  },
);
