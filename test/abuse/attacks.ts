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
import { MAX_MESSAGE_SIZE, MAX_PROPERTIES_DEPTH, MAX_USER_DATA_SIZE } from '../../server/protocol/methods.ts';
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

/**
 * Bomb and deep-nesting frames as the first message of `/main` sockets (before any token).
 * `closes` counts how each socket ended (`4000 protocol error: malformed MessagePack` expected).
 */
export async function webFrameBombs(
  target: Target,
  sockets = 20,
): Promise<{ sent: number; closedByServer: number; closes: Record<string, number> }> {
  let sent = 0;
  let closedByServer = 0;
  const closes: Record<string, number> = {};
  await pool(
    Array.from({ length: sockets }, (_, i) => i),
    5,
    async (i) => {
      const ws = await openWs(target, '/main', '127.0.0.4');
      if (!ws.opened) return;
      ws.socket.send(i % 2 === 0 ? allocationBomb() : deepNesting(), { binary: true });
      sent++;
      const closed = await Promise.race([ws.closed, pause(10_000).then(() => undefined)]);
      if (closed !== undefined) {
        closedByServer++;
        const key = `${closed.code} ${closed.reason.replace(/:[^:]*$/, '')}`;
        closes[key] = (closes[key] ?? 0) + 1;
      }
      ws.socket.terminate();
    },
  );
  return { sent, closedByServer, closes };
}

/**
 * The same frames on QUIC: as the first message of an unauthenticated session's main stream
 * (the session must be closed, naming the MessagePack error), and as the first message of a
 * room stream while the session's peer waits for it after a `JoinRoom` with its token (the
 * stream is refused and the session goes on: a `Ping` is still answered).
 */
export async function quicFrameBombs(
  target: Target,
  sessions = 6,
): Promise<{ sent: number; errors: number; mainClosed: number; roomRefusedSessionAlive: number }> {
  let sent = 0;
  let errors = 0;
  let mainClosed = 0;
  let roomRefusedSessionAlive = 0;
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
        sent++;
        const deadline = Date.now() + 10_000;
        while (client.closeInfo === undefined && Date.now() < deadline) await pause(20);
        if (/malformed MessagePack/.test(client.closeInfo?.reason ?? '')) mainClosed++;
      } else {
        // A joined peer waits for its room stream; the bomb comes as that stream's first message.
        await client.main.request('JoinRoom', {
          token: await target.token('quic-bomb-room', `quic-bomb-${i}`),
          room_id: 'quic-bomb-room',
          user_data: new Uint8Array(),
          position: [0, 0],
        });
        const room = new RpcStream(client.transport.session.openBidiStream(), 5_000);
        room.sendRaw(bomb);
        sent++;
        await pause(200);
        if (client.closeInfo === undefined) {
          await client.main.request('Ping', {});
          roomRefusedSessionAlive++;
        }
      }
    } catch {
      errors++;
    } finally {
      await client?.close().catch(() => {});
    }
  }
  return { sent, errors, mainClosed, roomRefusedSessionAlive };
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
 * `count` unauthenticated QUIC sessions from 50 source addresses (127.0.4.1..50): each opens
 * its main stream (a `Ping`, so the server has a client waiting to authenticate) and holds it
 * until the server closes it or `holdMs` passes. Beside the web flood, against the same small
 * `max_clients`.
 */
export async function unauthenticatedQuicFlood(
  target: Target,
  count = 100,
  holdMs = 8_000,
): Promise<{ opened: number; failed: number; closedByServer: number }> {
  const clients: OdinQuicClient[] = [];
  let failed = 0;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    10,
    async (i) => {
      try {
        const client = await OdinQuicClient.connect({
          host: HOST,
          port: target.quicPort,
          insecure: true,
          localHost: `127.0.4.${(i % 50) + 1}`,
          requestTimeoutMs: 5_000,
        });
        clients.push(client);
        await client.main.request('Ping', {});
      } catch {
        failed++;
      }
    },
  );
  const deadline = Date.now() + holdMs;
  while (Date.now() < deadline && clients.some((client) => client.closeInfo === undefined)) await pause(100);
  const closedByServer = clients.filter((client) => client.closeInfo !== undefined).length;
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
  return { opened: clients.length, failed, closedByServer };
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
  const laterJoin = await joinLater(target, room);
  for (const socket of sockets) socket.terminate();
  return { answer, laterJoin };
}

/** A fresh legitimate client joins `room`: `joined`, or why it could not. */
async function joinLater(target: Target, room: string): Promise<string> {
  try {
    const client = await OdinClient.connect(`${HOST}:${target.httpPort}`, await target.token(room, 'later'), {
      ca: target.ca,
      voice: false,
    });
    try {
      await client.joinRoom(room);
      return 'joined';
    } finally {
      await client.close();
    }
  } catch (error) {
    return `failed: ${(error as Error).message.slice(0, 160)}`;
  }
}

/** `{n: {n: ... {leaf: 1}}}`, `depth` maps deep (the outermost is level 1). */
function nestedMaps(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i++) value = { n: value };
  return value;
}

/** `[[[ ... [0, 0] ... ]]]`, `depth` arrays deep. */
function nestedArrays(depth: number): unknown[] {
  let value: unknown[] = [0, 0];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

/** One hostile value in one client-supplied field, and where it goes. */
type HostileCase = {
  /** `Method.field: what`, the report's key. */
  name: string;
  on: 'main' | 'room' | 'preauth';
  frame: (msgid: number) => Uint8Array;
  /** What a correct server does: refuse the call naming `field`, or close the client. */
  expect: { refused: string } | { closed: number };
};

const bytes = (size: number) => new Uint8Array(size).fill(0x61);

/**
 * Every client-supplied field with an oversized, deep or ill-typed value (issue 14, defect 3):
 * the values the decoder accepts must be refused by the method's schema, naming the field,
 * with the connection left open; frames beyond the decoder's limits close that client.
 */
export const HOSTILE_CASES: readonly HostileCase[] = [
  ...(
    [
      ['preauth', 'Authenticate', 'token', { token: 'a'.repeat(9 * 1024) }, '9 KiB'],
      [
        'main',
        'JoinRoom',
        'user_data',
        { room_id: 'r', user_data: bytes(MAX_USER_DATA_SIZE + 1), position: [0, 0] },
        '16 KiB + 1',
      ],
      [
        'main',
        'JoinRoom',
        'user_data',
        { room_id: 'r', user_data: nestedMaps(12), position: [0, 0] },
        'a map 12 deep',
      ],
      [
        'main',
        'JoinRoom',
        'position',
        { room_id: 'r', user_data: bytes(0), position: nestedArrays(12) },
        'arrays 12 deep',
      ],
      [
        'main',
        'JoinRoom',
        'position[0]',
        { room_id: 'r', user_data: bytes(0), position: [Number.NaN, 0] },
        'NaN',
      ],
      [
        'main',
        'JoinRoom',
        'room_id',
        { room_id: 'r'.repeat(2000), user_data: bytes(0), position: [0, 0] },
        '2,000 characters',
      ],
      ['main', 'SetupWebRtc', 'sdp', { sdp: 'v'.repeat(40_000) }, '40,000 characters'],
      [
        'main',
        'WebRtcUpdate',
        'media_map',
        { kind: 'Sdp', type: 'Offer', sdp: 'v=0', media_map: nestedArrays(12) },
        'arrays 12 deep',
      ],
      ['room', 'UpdatePeer', 'user_data', { user_data: bytes(MAX_USER_DATA_SIZE + 1) }, '16 KiB + 1'],
      ['room', 'UpdatePeer', 'user_data', { user_data: nestedMaps(12) }, 'a map 12 deep'],
      ['room', 'UpdateRoom', 'user_data', { user_data: bytes(MAX_USER_DATA_SIZE + 1) }, '16 KiB + 1'],
      ['room', 'SendMessage', 'message', { message: bytes(MAX_MESSAGE_SIZE + 1) }, '32 KiB + 1'],
      ['room', 'SendMessage', 'message', { message: nestedArrays(12) }, 'arrays 12 deep'],
      [
        'room',
        'SendMessage',
        'target_peer_ids',
        { message: bytes(1), target_peer_ids: Array(2000).fill(1) },
        '2,000 ids',
      ],
      ['room', 'SetPeerPosition', 'position[0]', { position: [Number.POSITIVE_INFINITY, 0] }, 'Infinity'],
      ['room', 'SetPeerPosition', 'position', { position: [0, 0, 0, 0] }, '4 numbers'],
      ['room', 'SetPeerPosition', 'position', { position: nestedArrays(12) }, 'arrays 12 deep'],
      [
        'room',
        'StartMedia',
        'properties',
        { media_id: 1, properties: nestedMaps(MAX_PROPERTIES_DEPTH + 2) },
        `maps ${MAX_PROPERTIES_DEPTH + 2} deep`,
      ],
      ['room', 'StartMedia', 'properties', { media_id: 1, properties: { blob: bytes(9 * 1024) } }, '9 KiB'],
      [
        'room',
        'StartMedia',
        'properties',
        { media_id: 1, properties: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) },
        '65 keys',
      ],
    ] as const
  ).map(
    ([on, method, field, params, what]): HostileCase => ({
      name: `${method}.${field}: ${what}`,
      on,
      frame: (msgid) => encodeRequest(msgid, method, params),
      expect: { refused: `${method}.${field}` },
    }),
  ),
  {
    name: 'room stream frame: StartMedia properties 300 maps deep',
    on: 'room',
    frame: (msgid) => deepStartMedia(msgid, 1, 300),
    expect: { closed: 4000 },
  },
  {
    name: 'room stream frame: allocation bomb',
    on: 'room',
    frame: () => allocationBomb(),
    expect: { closed: 4000 },
  },
  {
    name: 'main frame: 70 KiB (over the 64 KiB frame limit)',
    on: 'main',
    frame: (msgid) => encodeRequest(msgid, 'Ping', { pad: bytes(70 * 1024) }),
    expect: { closed: 1009 },
  },
];

/**
 * Each {@link HOSTILE_CASES} case on its own client (from 127.0.0.6): authenticates, joins
 * `room` and opens its room stream (unless `preauth`), sends the hostile frame, and reports
 * `refused: <error>; open` (then a valid call was still answered), `closed <code>: <reason>`,
 * or `ACCEPTED`. Then a fresh client joins the same room: `laterJoin` is `joined` when it could.
 */
export async function hostileFields(
  target: Target,
): Promise<{ outcomes: Record<string, string>; laterJoin: string }> {
  const room = 'hostile-room';
  const outcomes: Record<string, string> = {};
  for (const [i, hostile] of HOSTILE_CASES.entries()) {
    const sockets: WebSocket[] = [];
    try {
      const main = await openWs(target, '/main', '127.0.0.6');
      sockets.push(main.socket);
      if (!main.opened) {
        outcomes[hostile.name] = 'main socket refused';
        continue;
      }
      let on = main;
      if (hostile.on !== 'preauth') {
        await callOk(
          main,
          0,
          encodeRequest(0, 'Authenticate', { token: await target.token(room, `hostile-${i}`) }),
        );
      }
      if (hostile.on === 'room') {
        const joined = await callOk(
          main,
          1,
          encodeRequest(1, 'JoinRoom', { room_id: room, user_data: new Uint8Array(), position: [0, 0] }),
        );
        const stream = await openWs(
          target,
          `/room?${(joined[3] as { stream_id: number }).stream_id}`,
          '127.0.0.6',
        );
        sockets.push(stream.socket);
        on = stream;
      }
      on.socket.send(hostile.frame(7), { binary: true });
      const reply = await waitFor(on, 7);
      if (reply === undefined) {
        const closed = await Promise.race([on.closed, pause(5_000).then(() => undefined)]);
        outcomes[hostile.name] =
          closed === undefined
            ? 'no answer in 10 s'
            : `closed ${closed.code}: ${closed.reason.slice(0, 120)}`;
        continue;
      }
      if (reply[2] === null) {
        outcomes[hostile.name] = 'ACCEPTED';
        continue;
      }
      // Still open: a valid call on the same socket is answered.
      const valid =
        on === main ? encodeRequest(8, 'Ping', {}) : encodeRequest(8, 'UpdatePeer', { user_data: bytes(4) });
      on.socket.send(valid, { binary: true });
      const after = await waitFor(on, 8);
      const open = after !== undefined && after[2] === null ? 'open' : 'not answered after';
      outcomes[hostile.name] = `refused: ${String(reply[2]).slice(0, 120)}; ${open}`;
    } catch (error) {
      outcomes[hostile.name] = `failed: ${(error as Error).message.slice(0, 120)}`;
    } finally {
      for (const socket of sockets) socket.terminate();
    }
  }
  return { outcomes, laterJoin: await joinLater(target, room) };
}

/** The response to `msgid` on `ws`, or undefined once the socket closed or `capMs` passed. */
async function waitFor(ws: WsOutcome, msgid: number, capMs = 10_000): Promise<unknown[] | undefined> {
  const deadline = Date.now() + capMs;
  for (;;) {
    const reply = ws.frames.find((f) => f[0] === 1 && f[1] === msgid);
    if (reply !== undefined) return reply;
    if (Date.now() > deadline || ws.socket.readyState !== ws.socket.OPEN) return undefined;
    await pause(10);
  }
}

/** Sends `frame` and resolves with its response (whatever its error); throws when none comes. */
async function call(ws: WsOutcome, msgid: number, frame: Uint8Array): Promise<unknown[]> {
  ws.socket.send(frame, { binary: true });
  const reply = await waitFor(ws, msgid);
  if (reply === undefined) throw new Error(`call ${msgid}: no answer`);
  return reply;
}

/** {@link call}, and throws when the call was refused. */
async function callOk(ws: WsOutcome, msgid: number, frame: Uint8Array): Promise<unknown[]> {
  const reply = await call(ws, msgid, frame);
  if (reply[2] !== null) throw new Error(`call ${msgid} refused: ${String(reply[2])}`);
  return reply;
}
