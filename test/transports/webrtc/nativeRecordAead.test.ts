/**
 * The werift patch's native record cipher (server/transports/web/webrtc/nativeRecordAead.ts →
 * native/quic RecordAead): a grid session and a werift client carry voice both ways with it in
 * use, and its records interoperate with werift's own createCipheriv path (as a browser's DTLS
 * stack would see them). Skipped when the addon is not built.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  loadNativeAddon,
  type NativeRecordAead,
  nativeAddonBuilt,
} from '../../../server/transports/quic/nativeAddon.ts';
import {
  installNativeRecordAead,
  RECORD_AEAD_FACTORY,
} from '../../../server/transports/web/webrtc/nativeRecordAead.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { bindMux, connect, serverSession, voiceClient } from './helpers.ts';

const built = nativeAddonBuilt();
const slots = globalThis as Record<symbol, unknown>;
const installedFactory = () => slots[RECORD_AEAD_FACTORY] as ((key: Buffer) => NativeRecordAead) | undefined;
after(() => {
  delete slots[RECORD_AEAD_FACTORY];
});

async function voiceBothWays(): Promise<void> {
  const mux = await bindMux();
  try {
    const server = serverSession(mux);
    const { client, received } = voiceClient();
    await connect(client, server.session);
    for (let i = 1; i <= 20; i++) {
      client.sendVoice(new Uint8Array(130).fill(i));
      server.session.sendVoice(new Uint8Array(130).fill(i + 100));
    }
    await waitFor(() => received.length === 20 && server.received.length === 20, 'voice both ways');
    assert.deepEqual(received[19], new Uint8Array(130).fill(120));
    assert.deepEqual(server.received[19], new Uint8Array(130).fill(20));
    await client.close();
    await server.session.close();
  } finally {
    await mux.close();
  }
}

test('with the addon, a web session installs the native record cipher and voice flows both ways', {
  skip: !built && 'native addon not built',
}, async () => {
  assert.equal(installNativeRecordAead(), true);
  const factory = installedFactory();
  assert.equal(typeof factory, 'function');
  let contexts = 0;
  slots[RECORD_AEAD_FACTORY] = (key: Buffer) => {
    contexts++;
    return factory?.(key);
  };
  await voiceBothWays();
  assert.equal(contexts, 4, 'two keys per DTLS end (client write, server write), both ends in this process');
  slots[RECORD_AEAD_FACTORY] = factory;
});

test('native records and Node cipher records interoperate (each key native on one end only)', {
  skip: !built && 'native addon not built',
}, async () => {
  const { RecordAead } = loadNativeAddon();
  // Per DTLS end the patch asks for the client write key, then the server write key: native for
  // the first only means each end seals in one direction natively and opens the other with Node.
  let calls = 0;
  slots[RECORD_AEAD_FACTORY] = (key: Buffer) => (calls++ % 2 === 0 ? new RecordAead(key) : undefined);
  await voiceBothWays();
  assert.equal(calls, 4);
});

test('without a factory werift keeps its createCipheriv path', async () => {
  installNativeRecordAead(); // once per process: sessions below will not put it back
  const saved = slots[RECORD_AEAD_FACTORY];
  delete slots[RECORD_AEAD_FACTORY];
  try {
    await voiceBothWays();
  } finally {
    if (saved !== undefined) slots[RECORD_AEAD_FACTORY] = saved;
  }
});
