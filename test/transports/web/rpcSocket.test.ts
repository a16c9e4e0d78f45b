import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { RpcSocket } from '../../../client/rpcSocket.ts';
import { decodeMsgpack, encodeNotification, encodeResponse } from '../../../server/protocol/msgpackRpc.ts';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
after(() => server.close());

test('notifications that arrive before anyone listens are delivered to the first listener, in order', async (t) => {
  await once(server, 'listening');
  // The server speaks first, in the same flight as the upgrade: the client's 'open' and these
  // messages can be handled in one go, before the caller has attached a listener.
  // It answers a request after them: a WebSocket keeps order, so once the answer is in, both
  // notifications have arrived (an event, not a sleep that a busy machine may outlast).
  server.once('connection', (socket) => {
    socket.send(encodeNotification('RoomUpdated', { n: 1 }));
    socket.send(encodeNotification('RoomUpdated', { n: 2 }));
    socket.on('message', (data: Buffer) => {
      const [, msgid] = decodeMsgpack(new Uint8Array(data)) as [number, number];
      socket.send(encodeResponse(msgid, null, 'pong'));
    });
  });
  const { port } = server.address() as { port: number };
  const socket = await RpcSocket.open(`ws://127.0.0.1:${port}/`);
  t.after(() => socket.close());
  assert.equal(await socket.request('Ping', {}), 'pong');
  const seen: unknown[] = [];
  socket.on('notification', (_method, params) => seen.push(params));
  await new Promise((resolve) => setImmediate(resolve)); // delivered in a microtask after `on`
  assert.deepEqual(seen, [{ n: 1 }, { n: 2 }]);
});
