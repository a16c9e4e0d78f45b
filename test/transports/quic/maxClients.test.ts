/**
 * `[limit] max_clients` on the [quic] listener counts authenticated clients only (issue 14,
 * defect 4; docs/security.md): sessions that opened their main stream and talk, but never
 * present a token, wait in the pre-authentication budget and leave every place to clients that
 * join. Against a real grid on loopback; the idle sessions come from 127.0.0.2.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OdinQuicClient } from '../../../client/quic/odinQuicClient.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { freeUdpPort } from './helpers.ts';

let grid: TestGrid;
let port: number;

before(async () => {
  if (needsNativeAddon.skip) return; // root hooks run even when the test is skipped
  port = await freeUdpPort();
  grid = await startTestGrid({
    toml: `[limit]\nmax_clients = 1\n[quic]\nbinding = "127.0.0.1:${port}"\nconnect_timeout = 30000\n`,
  });
});
after(() => grid?.close());

async function connect(localHost: string): Promise<OdinQuicClient> {
  const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true, localHost });
  grid.track(() => client.close().catch(() => {}));
  return client;
}

test(
  'unauthenticated QUIC sessions never take max_clients; the one client over it is refused server_full',
  needsNativeAddon,
  async () => {
    const idle: OdinQuicClient[] = [];
    for (let i = 0; i < 3; i++) {
      const client = await connect('127.0.0.2');
      // The main stream is open and the server has a client for it, waiting to authenticate.
      assert.equal(await client.main.request('Ping', {}), null);
      idle.push(client);
    }
    await eventually(() => grid.sfu.unauthenticatedCount === 3, 'three sessions waiting to authenticate');
    assert.equal(grid.sfu.clientCount, 0, 'waiting sessions are not clients');

    // max_clients = 1 and three sessions open: a real client still joins.
    const alice = await connect('127.0.0.1');
    await alice.joinRoom(await grid.token('lobby', 'alice'), 'lobby');
    assert.equal(grid.sfu.clientCount, 1);
    assert.equal(grid.sfu.unauthenticatedCount, 3);

    // The server is full of authenticated clients now: the next token is refused, naming the limit.
    const bob = await connect('127.0.0.1');
    // Closing the session resets its streams (WebTransport), so the reason comes in the session close.
    await assert.rejects(bob.joinRoom(await grid.token('lobby', 'bob'), 'lobby'));
    await eventually(() => bob.closeInfo !== undefined, 'the refused session to be closed');
    assert.match(
      bob.closeInfo!.reason,
      /server full: the server accepts at most 1 clients \(\[limit\] max_clients\)/,
    );
    assert.equal(grid.sfu.clientCount, 1);
    for (const client of idle)
      assert.equal(client.closeInfo, undefined, 'idle sessions are within their deadline');
  },
);
