/**
 * Many QUIC sessions joining at once from one address (the load generator's shared endpoint,
 * issue 17: `JoinRoom: closed (... stream aborted)` under a fast join rate): the server refuses
 * the sessions over `[limit] max_unauthenticated_per_address` and says so in its close, and the
 * client's JoinRoom fails with that reason rather than with the reset of its main stream.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OdinQuicClient } from '../../../client/quic/odinQuicClient.ts';
import { sharedClientEndpoint } from '../../../client/quic/webTransportClient.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { freeUdpPort } from './helpers.ts';

const PER_ADDRESS = 4;
const SESSIONS = 7;

let startedGrid: TestGrid | undefined;
let port: number;
before(async () => {
  // Without the addon a grid with [quic] refuses to start; the test below is skipped then.
  if (needsNativeAddon.skip) return;
  port = await freeUdpPort();
  startedGrid = await startTestGrid({
    toml: `[limit]\nmax_unauthenticated_per_address = ${PER_ADDRESS}\n[quic]\nbinding = "127.0.0.1:${port}"\n`,
  });
});
after(() => startedGrid?.close());

test(
  'sessions over the per-address budget fail JoinRoom with the server reason; the rest join',
  needsNativeAddon,
  async () => {
    const grid = startedGrid!;
    const endpoint = sharedClientEndpoint({ insecure: true });
    grid.track(() => endpoint.close());
    const clients: OdinQuicClient[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, endpoint, transport: 'quic' });
      grid.track(() => client.close().catch(() => {}));
      clients.push(client);
    }
    // Every main stream reached the server: PER_ADDRESS wait to authenticate, the rest are closed.
    await waitFor(
      () =>
        grid.sfu.unauthenticatedCount === PER_ADDRESS &&
        clients.filter((c) => c.closeInfo).length === SESSIONS - PER_ADDRESS,
      'the sessions over the budget closed',
    );
    const results = await Promise.allSettled(
      clients.map(async (client, i) => client.joinRoom(await grid.token('crowd', `peer-${i}`), 'crowd')),
    );
    const refused = results
      .filter((r) => r.status === 'rejected')
      .map((r) => String((r as PromiseRejectedResult).reason));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, PER_ADDRESS);
    assert.equal(refused.length, SESSIONS - PER_ADDRESS);
    for (const message of refused) {
      assert.match(message, /JoinRoom: session closed by the server .*max_unauthenticated_per_address/);
      assert.doesNotMatch(message, /stream aborted/);
    }
  },
);
