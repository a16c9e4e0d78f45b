/**
 * The session's voice queue: voice is handed to werift once per event-loop turn, and voice that
 * waited longer than ODIN's 100 ms for web clients is dropped and counted (`too_late`), not
 * sent late. The clock is injected: the test decides how old a packet is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { webVoiceTooLate } from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { bytes, connect, muxForFile, serverSession, text, voiceClient } from './helpers.ts';

const mux = muxForFile();

test('voice queued longer than 100 ms is dropped as too late; fresh voice still arrives, in order', async () => {
  let nowMs = 1_000;
  const server = serverSession(mux(), { now: () => nowMs });
  const { client, received } = voiceClient();
  await connect(client, server.session);
  const totalBefore = webVoiceTooLate();

  // Queued at t = 1000 ms; the flush runs at the end of this turn, by then 101 ms later.
  for (let i = 0; i < 3; i++) assert.equal(server.session.sendVoice(bytes(`stale ${i}`)), true);
  nowMs += 101;
  await waitFor(() => server.session.stats.voiceTooLate === 3, 'the stale packets are dropped at the flush');
  assert.equal(webVoiceTooLate() - totalBefore, 3, 'the process-wide too_late counter (the drop metric)');

  // Exactly at the limit is not too late.
  server.session.sendVoice(bytes('fresh 0'));
  nowMs += 100;
  server.session.sendVoice(bytes('fresh 1'));
  await waitFor(() => received.length === 2, 'the client receives the fresh packets');
  assert.deepEqual(received.map(text), ['fresh 0', 'fresh 1']);
  assert.equal(server.session.stats.voiceTooLate, 3);
  assert.equal(server.session.stats.voiceOut, 5, 'voiceOut counts what sendVoice accepted');

  await client.close();
  await server.session.close();
});
