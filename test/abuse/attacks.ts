/**
 * The abuse battery's attacks (docs/security.md), each bounded in count and in time, all to
 * loopback. Attackers use their own loopback source addresses (127.0.1.x, 127.0.0.2, ...)
 * so that per-address limits meet them and not the legitimate clients on 127.0.0.1.
 * Every attack returns what it saw, for the report.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { decode } from '@msgpack/msgpack';
import { WebSocket } from 'ws';
import { OdinClient } from '../../client/odinClient.ts';
import { OdinQuicClient, RpcStream } from '../../client/quic/odinQuicClient.ts';
import { encodeRequest } from '../../server/protocol/msgpackRpc.ts';

export type Target = {
  httpPort: number;
  webRtcPort: number;
  quicPort: number;
  ca: string;
  /** A valid token for `room` and `user`. */
  token(room: string, user: string): Promise<string>;
};

const HOST = '127.0.0.1';

/** Resolves after `ms`, or at once when the signal aborts. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `work` over `items` with at most `parallel` at a time. */
async function pool<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

type WsOutcome = {
  socket: WebSocket;
  opened: boolean;
  closed: Promise<{ code: number; reason: string }>;
  /** Every frame received, from the first (none is missed between open and a listener). */
  frames: unknown[][];
};

/** A WebSocket from `localAddress`; resolves once it is open, refused or failed (10 s cap). */
function openWs(target: Target, path: string, localAddress: string): Promise<WsOutcome> {
  const socket = new WebSocket(`wss://${HOST}:${target.httpPort}${path}`, {
    ca: target.ca,
    localAddress,
    perMessageDeflate: false,
    handshakeTimeout: 10_000,
  });
  socket.on('error', () => {});
  const frames: unknown[][] = [];
  socket.on('message', (data: Buffer) => {
    try {
      frames.push(decode(data) as unknown[]);
    } catch {
      // not ours to judge
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code: number, reason: Buffer) =>
      resolve({ code, reason: reason.toString('utf8') }),
    ),
  );
  return new Promise((resolve) => {
    socket.once('open', () => resolve({ socket, opened: true, closed, frames }));
    socket.once('unexpected-response', () => {
      socket.terminate();
      resolve({ socket, opened: false, closed, frames });
    });
    socket.once('close', () => resolve({ socket, opened: false, closed, frames }));
  });
}

/**
 * The frame that ran a 512 MB heap out of memory (issue 14, defect 1): 1,000 nested array16
 * headers, each declaring 65,535 elements, in 3,000 bytes.
 */
export function allocationBomb(): Uint8Array {
  const bytes = new Uint8Array(3_000);
  for (let i = 0; i < bytes.length; i += 3) bytes.set([0xdc, 0xff, 0xff], i);
  return bytes;
}

/** 60,000 nested one-element arrays (fixarray 0x91), then nil: deep nesting in one frame. */
export function deepNesting(depth = 60_000): Uint8Array {
  const bytes = new Uint8Array(depth + 1).fill(0x91);
  bytes[depth] = 0xc0;
  return bytes;
}

/** Bomb and deep-nesting frames as the first message of `/main` sockets (before any token). */
export async function webFrameBombs(
  target: Target,
  sockets = 20,
): Promise<{ sent: number; closedByServer: number }> {
  let sent = 0;
  let closedByServer = 0;
  await pool(
    Array.from({ length: sockets }, (_, i) => i),
    5,
    async (i) => {
      const ws = await openWs(target, '/main', '127.0.0.4');
      if (!ws.opened) return;
      ws.socket.send(i % 2 === 0 ? allocationBomb() : deepNesting(), { binary: true });
      sent++;
      const closed = await Promise.race([ws.closed.then(() => true), pause(10_000).then(() => false)]);
      if (closed) closedByServer++;
      ws.socket.terminate();
    },
  );
  return { sent, closedByServer };
}

/** The same frames on QUIC: as the first message of the main stream and of a room stream. */
export async function quicFrameBombs(
  target: Target,
  sessions = 6,
): Promise<{ sent: number; errors: number }> {
  let sent = 0;
  let errors = 0;
  for (let i = 0; i < sessions; i++) {
    let client: OdinQuicClient | undefined;
    try {
      client = await OdinQuicClient.connect({
        host: HOST,
        port: target.quicPort,
        insecure: true,
        requestTimeoutMs: 5_000,
      });
      const bomb = i % 2 === 0 ? allocationBomb() : deepNesting();
      if (i % 3 === 0) {
        client.main.sendRaw(bomb);
      } else {
        // A main stream first (it becomes the client), then the bomb as a room stream's first message.
        await client.main.request('Ping', {}).catch(() => {});
        const room = new RpcStream(client.transport.session.openBidiStream(), 5_000);
        room.sendRaw(bomb);
      }
      sent++;
      await pause(200);
    } catch {
      errors++;
    } finally {
      await client?.close().catch(() => {});
    }
  }
  return { sent, errors };
}

/**
 * `count` unauthenticated `/main` sockets from 250 source addresses (127.0.1.1..250), opened
 * `parallel` at a time and held until the server closes them or `holdMs` passes.
 */
export async function unauthenticatedFlood(
  target: Target,
  count = 1_000,
  holdMs = 8_000,
): Promise<{ opened: number; refused: number; closedByServer: number; reasons: Record<string, number> }> {
  const sockets: WsOutcome[] = [];
  let refused = 0;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    25,
    async (i) => {
      const ws = await openWs(target, '/main', `127.0.1.${(i % 250) + 1}`);
      if (ws.opened) sockets.push(ws);
      else refused++;
    },
  );
  const reasons: Record<string, number> = {};
  let closedByServer = 0;
  await Promise.race([
    Promise.all(
      sockets.map(async (ws) => {
        const { reason } = await ws.closed;
        closedByServer++;
        const key = reason.replace(/\(.*$/, '').trim() || 'no reason';
        reasons[key] = (reasons[key] ?? 0) + 1;
      }),
    ),
    pause(holdMs),
  ]);
  for (const ws of sockets) ws.socket.terminate();
  return { opened: sockets.length, refused, closedByServer, reasons };
}

/**
 * Slowloris on the `[http]` listener: `count` TLS connections that drip header lines, and
 * `count` TCP connections that never send a TLS hello. Each stops after `capMs`.
 */
export async function slowAndIdle(
  target: Target,
  count = 100,
  capMs = 20_000,
): Promise<{ dripping: number; idle: number; closedByServer: number; longestHeldMs: number }> {
  let closedByServer = 0;
  let longestHeldMs = 0;
  const held = (opened: number) => {
    closedByServer++;
    longestHeldMs = Math.max(longestHeldMs, Date.now() - opened);
  };
  const one = (kind: 'drip' | 'idle', i: number) =>
    new Promise<void>((resolve) => {
      const localAddress = `127.0.2.${(i % 250) + 1}`;
      const opened = Date.now();
      const socket =
        kind === 'drip'
          ? connectTls(
              {
                socket: connectTcp({ host: HOST, port: target.httpPort, localAddress }),
                ca: target.ca,
                servername: 'localhost',
              },
              () => {
                socket.write('GET /main HTTP/1.1\r\nHost: localhost\r\n');
              },
            )
          : connectTcp({ host: HOST, port: target.httpPort, localAddress });
      let lines = 0;
      const drip =
        kind === 'drip'
          ? setInterval(() => {
              if (!socket.destroyed) socket.write(`x-slow-${lines++}: a\r\n`);
            }, 500)
          : undefined;
      const cap = setTimeout(() => {
        socket.destroy();
      }, capMs);
      socket.on('error', () => {});
      socket.once('close', () => {
        clearInterval(drip);
        clearTimeout(cap);
        if (Date.now() - opened < capMs) held(opened);
        resolve();
      });
    });
  await Promise.all([
    ...Array.from({ length: count }, (_, i) => one('drip', i)),
    ...Array.from({ length: count }, (_, i) => one('idle', i)),
  ]);
  return { dripping: count, idle: count, closedByServer, longestHeldMs };
}

/** `/room?<random id>` from one source: how many were looked up (1008) and how many refused (429). */
export async function guessStreamIds(
  target: Target,
  attempts = 300,
): Promise<{ closed1008: number; refused429: number; attached: number }> {
  let closed1008 = 0;
  let refused429 = 0;
  let attached = 0;
  for (let i = 0; i < attempts; i++) {
    const id = 1 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1));
    const ws = await openWs(target, `/room?${id}`, '127.0.0.3');
    if (ws.opened) {
      const { code } = await Promise.race([ws.closed, pause(5_000).then(() => ({ code: 0, reason: '' }))]);
      if (code === 1008) closed1008++;
      else attached++;
    } else refused429++;
    ws.socket.terminate();
  }
  return { closed1008, refused429, attached };
}

/**
 * `SetupWebRtc` and generation B `WebRtcUpdate` offers before any token, `count` sockets from 20
 * source addresses: every one must be refused, and no WebRTC session built.
 */
export async function preAuthWebRtc(
  target: Target,
  offer: string,
  count = 300,
): Promise<{ answered: number; refused: number }> {
  let answered = 0;
  let refused = 0;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    10,
    async (i) => {
      const ws = await openWs(target, '/main', `127.0.3.${(i % 20) + 1}`);
      if (!ws.opened) return;
      const request =
        i % 2 === 0
          ? encodeRequest(0, 'SetupWebRtc', { sdp: offer })
          : encodeRequest(0, 'WebRtcUpdate', { kind: 'Sdp', type: 'Offer', sdp: offer, media_map: [] });
      ws.socket.send(request, { binary: true });
      const deadline = Date.now() + 10_000;
      while (ws.frames.length === 0 && ws.socket.readyState === ws.socket.OPEN && Date.now() < deadline) {
        await pause(10);
      }
      const reply = ws.frames[0];
      if (reply !== undefined && reply[0] === 1 && reply[2] !== null) refused++;
      else answered++;
      ws.socket.terminate();
    },
  );
  return { answered, refused };
}

/**
 * UDP garbage to the WebRTC port and the QUIC port, and QUIC long-header Initials shorter than
 * 1,200 bytes (RFC 9000 section 14.1: a server drops them). Counts the datagrams that came back.
 */
export async function udpGarbage(
  target: Target,
  datagrams = 3_000,
): Promise<{ sent: number; repliesToShortInitials: number; repliesToGarbage: number }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
  let phase: 'garbage' | 'initials' = 'garbage';
  let repliesToGarbage = 0;
  let repliesToShortInitials = 0;
  socket.on('message', () => {
    if (phase === 'garbage') repliesToGarbage++;
    else repliesToShortInitials++;
  });
  let sent = 0;
  for (let i = 0; i < datagrams; i++) {
    const port = i % 2 === 0 ? target.webRtcPort : target.quicPort;
    socket.send(randomBytes(1 + (i % 1400)), port, HOST);
    sent++;
    if (i % 200 === 0) await pause(5);
  }
  await pause(500);
  phase = 'initials';
  for (let i = 0; i < 200; i++) {
    // Long header, Initial, an unknown version (would draw Version Negotiation) and v1.
    const short = randomBytes(100 + (i % 1000));
    short[0] = 0xc0 | (short[0]! & 0x0f);
    short.writeUInt32BE(i % 2 === 0 ? 0x1a2a3a4a : 0x00000001, 1);
    short[5] = 8;
    socket.send(short, target.quicPort, HOST);
    sent++;
  }
  await pause(1_000);
  socket.close();
  return { sent, repliesToShortInitials, repliesToGarbage };
}

/**
 * `[0, msgid, "StartMedia", {media_id, properties}]` with `properties` nested `depth` maps deep,
 * written by hand: an encoder with a depth limit (ours, @msgpack/msgpack's 100) refuses to.
 */
function deepStartMedia(msgid: number, mediaId: number, depth: number): Uint8Array {
  const str = (text: string) => [0xa0 | text.length, ...Buffer.from(text)];
  const bytes = [
    0x94,
    0x00,
    msgid,
    ...str('StartMedia'),
    0x82,
    ...str('media_id'),
    0xcd,
    mediaId >> 8,
    mediaId & 0xff,
  ];
  bytes.push(...str('properties'));
  for (let i = 0; i < depth; i++) bytes.push(0x81, ...str('nested'));
  bytes.push(0x81, ...str('kind'), ...str('audio'));
  return Uint8Array.from(bytes);
}

/**
 * An authenticated peer sends `StartMedia` with `properties` nested `depth` deep (issue 14,
 * defect 3) and stays; then a legitimate client joins that room: it must get `Joined`.
 */
export async function deepProperties(
  target: Target,
  depth = 300,
): Promise<{ answer: string; laterJoin: string }> {
  const room = 'deep-room';
  const main = await openWs(target, '/main', '127.0.0.5');
  if (!main.opened) return { answer: 'main socket refused', laterJoin: 'not tried' };
  const sockets = [main.socket];
  const call = async (ws: WsOutcome, msgid: number, frame: Uint8Array): Promise<unknown[]> => {
    ws.socket.send(frame, { binary: true });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const reply = ws.frames.find((f) => f[0] === 1 && f[1] === msgid);
      if (reply !== undefined) return reply;
      if (Date.now() > deadline || ws.socket.readyState !== ws.socket.OPEN)
        throw new Error(`call ${msgid}: no answer`);
      await pause(10);
    }
  };
  let answer: string;
  try {
    await call(main, 0, encodeRequest(0, 'Authenticate', { token: await target.token(room, 'deep') }));
    const joined = (await call(
      main,
      1,
      encodeRequest(1, 'JoinRoom', { room_id: room, user_data: new Uint8Array(), position: [0, 0] }),
    )) as [number, number, unknown, { stream_id: number }];
    const stream = await openWs(target, `/room?${joined[3].stream_id}`, '127.0.0.5');
    sockets.push(stream.socket);
    if (!stream.opened) return { answer: 'room stream refused', laterJoin: 'not tried' };
    const deadline = Date.now() + 10_000;
    while (stream.frames.length === 0 && Date.now() < deadline) await pause(10);
    const update = (stream.frames[0]?.[2] as { updates?: { media_ids?: number[] }[] } | undefined)
      ?.updates?.[0];
    try {
      const reply = await call(stream, 0, deepStartMedia(0, update?.media_ids?.[0] ?? 1, depth));
      answer = reply[2] === null ? 'accepted' : String(reply[2]).slice(0, 160);
    } catch {
      // A decoder with a depth limit closes the client instead of answering: a fine outcome.
      const { code, reason } = await Promise.race([
        main.closed,
        pause(5_000).then(() => ({ code: 0, reason: '' })),
      ]);
      answer = `closed ${code}: ${reason}`;
    }
  } catch (error) {
    return { answer: `failed: ${(error as Error).message}`, laterJoin: 'not tried' };
  }
  let laterJoin: string;
  try {
    const client = await OdinClient.connect(`${HOST}:${target.httpPort}`, await target.token(room, 'later'), {
      ca: target.ca,
      voice: false,
    });
    try {
      await client.joinRoom(room);
      laterJoin = 'joined';
    } finally {
      await client.close();
    }
  } catch (error) {
    laterJoin = `failed: ${(error as Error).message.slice(0, 160)}`;
  }
  for (const socket of sockets) socket.terminate();
  return { answer, laterJoin };
}
