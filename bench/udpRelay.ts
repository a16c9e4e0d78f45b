#!/usr/bin/env node
/**
 * The baseline: a bare UDP relay with no protocol at all. A peer joins a room by sending
 * `J<room>` (answered with `A`); every other datagram is forwarded unchanged, one `send` per
 * receiver, to the other members of the sender's room. It does what the SFU's voice path must
 * do at the least (receive, look up the room, send to each receiver) with the same Node `dgram`
 * API, so our throughput as a ratio of it stays comparable across (noisy) machines.
 *
 *   node bench/udpRelay.ts [port=0]     prints {"port":N} once listening
 *   a datagram `S` is answered with {"received":N,"forwarded":N} (JSON)
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

type Member = { address: string; port: number; room: Member[] };

const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
/** address -> port -> member: two lookups and no string building per packet. */
const members = new Map<string, Map<number, Member>>();
const rooms = new Map<string, Member[]>();
let received = 0;
let forwarded = 0;

function onMessage(message: Buffer, remote: RemoteInfo): void {
  const member = members.get(remote.address)?.get(remote.port);
  if (member !== undefined && message[0] !== 0x4a && message[0] !== 0x53) {
    received++;
    const room = member.room;
    for (let i = 0; i < room.length; i++) {
      const other = room[i]!;
      if (other === member) continue;
      socket.send(message, other.port, other.address);
      forwarded++;
    }
    return;
  }
  if (message[0] === 0x4a) {
    const name = message.toString('latin1', 1);
    let room = rooms.get(name);
    if (room === undefined) {
      room = [];
      rooms.set(name, room);
    }
    let byPort = members.get(remote.address);
    if (byPort === undefined) {
      byPort = new Map();
      members.set(remote.address, byPort);
    }
    if (!byPort.has(remote.port)) {
      const joined: Member = { address: remote.address, port: remote.port, room };
      byPort.set(remote.port, joined);
      room.push(joined);
    }
    socket.send('A', remote.port, remote.address);
  } else if (message[0] === 0x53) {
    socket.send(JSON.stringify({ received, forwarded }), remote.port, remote.address);
  }
}

socket.on('message', onMessage);
socket.bind(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
});
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
process.on('SIGINT', () => socket.close(() => process.exit(0)));
