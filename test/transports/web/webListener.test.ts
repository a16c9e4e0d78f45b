/**
 * The [http] listener's life: binding port 0 (tests, several servers on one host), what it
 * announces, and a close that leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gatewayConnect } from '../../../client/gateway.ts';
import { openWebRtcPeerConnections } from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { eventually, startTestGrid } from '../../helpers/testGrid.ts';

/** Handles and requests keeping the event loop alive, by type (timers, sockets ...). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

describe('WebListener', () => {
  test('binding port 0: the bound TCP and UDP ports are reported, named and announced', async () => {
    const grid = await startTestGrid();
    try {
      const { port, webRtcPort, name, publicAddress } = grid.webListener;
      assert.ok(port > 0 && webRtcPort > 0);
      assert.equal(
        name,
        `http 127.0.0.1:${port} (webrtc udp 127.0.0.1:${webRtcPort}, ice-tcp 127.0.0.1:${webRtcPort})`,
      );
      assert.equal(publicAddress, `127.0.0.1:${port}`);
      const connect = await gatewayConnect(grid.gatewayUrl, await grid.token('lobby', 'alice'), {
        ca: grid.ca,
      });
      assert.equal(connect.address, `127.0.0.1:${port}`);
      assert.equal(grid.logs.find('listening')[0]?.listener, name, 'the start-up log names the real ports');
    } finally {
      await grid.close();
    }
  });

  test('a public_address with a port is announced as written', async () => {
    const grid = await startTestGrid({ toml: 'public_address = "voice.example.com:443"' });
    try {
      const connect = await gatewayConnect(grid.gatewayUrl, await grid.token('lobby', 'alice'), {
        ca: grid.ca,
      });
      assert.equal(connect.address, 'voice.example.com:443');
    } finally {
      await grid.close();
    }
  });

  test('two grids on one host do not clash', async () => {
    const [a, b] = await Promise.all([startTestGrid(), startTestGrid()]);
    try {
      assert.notEqual(a.address, b.address);
      assert.notEqual(a.webListener.webRtcPort, b.webListener.webRtcPort);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('closing a grid with clients in rooms (voice on) leaves no socket or timer behind', async () => {
    const before = activeResources();
    const grid = await startTestGrid();
    const alice = await grid.connect('alice', 'lobby', { voice: true });
    const bob = await grid.connect('bob', 'lobby');
    await alice.joinRoom('lobby');
    await bob.joinRoom('lobby');
    await grid.close();
    assert.equal(grid.grid.state, 'stopped');
    await eventually(() => openWebRtcPeerConnections() === 0, 'the server WebRTC sessions to close');
    const nothingMore = () =>
      Object.entries(activeResources()).every(([name, n]) => n <= (before[name] ?? 0));
    await eventually(nothingMore, 'no more resources than before the grid').catch((error: Error) => {
      throw new Error(
        `${error.message}: before ${JSON.stringify(before)}, now ${JSON.stringify(activeResources())}`,
      );
    });
  });
});
