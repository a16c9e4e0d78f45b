/**
 * Which addresses the WebRTC answer advertises. `webrtc_candidates` defaults to empty, meaning
 * "the host of the public address": that default must work, since it is what most configs
 * (and the operator's rendered ones) leave in place.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { defaultHttpConfig } from '../../../server/config/index.ts';
import { resolveCandidates, webRtcCandidates } from '../../../server/transports/web/webRtcCandidates.ts';
import { startTestGrid } from '../../helpers/testGrid.ts';

test('empty webrtc_candidates advertise the host of the announced address', () => {
  const http = { ...defaultHttpConfig, webrtc_candidates: [] };
  assert.deepEqual(webRtcCandidates(http, 'voice.example.com:4433'), ['voice.example.com']);
  assert.deepEqual(webRtcCandidates(http, '203.0.113.7'), ['203.0.113.7']);
  assert.deepEqual(webRtcCandidates(http, '[2001:db8::1]:4433'), ['2001:db8::1']);
  assert.deepEqual(webRtcCandidates({ ...http, webrtc_candidates: ['198.51.100.1'] }, 'x:1'), [
    '198.51.100.1',
  ]);
});

test('a server with the default (empty) webrtc_candidates answers SetupWebRtc and voice connects', async () => {
  const grid = await startTestGrid({ toml: '[http]\nwebrtc_candidates = []\n' });
  after(() => grid.close());
  const client = await grid.connect('ivy', 'lobby', { voice: true, localAddress: '127.0.0.1' });
  assert.equal(client.voice?.channelState, 'open');
});

test('host name candidates are resolved to addresses once, when the listener opens; IPs pass as they are', async () => {
  const resolved = await resolveCandidates(['localhost', '203.0.113.7', '2001:db8::1']);
  assert.ok(['127.0.0.1', '::1'].includes(resolved[0]!), `localhost resolved to ${resolved[0]}`);
  assert.deepEqual(resolved.slice(1), ['203.0.113.7', '2001:db8::1']);
});

test('a candidate name that does not resolve is kept, with a warning', async () => {
  const warnings: string[] = [];
  const resolved = await resolveCandidates(['no-such-host.invalid'], {
    warn: (_fields, message) => warnings.push(message),
  });
  assert.deepEqual(resolved, ['no-such-host.invalid']);
  assert.match(warnings[0] ?? '', /cannot resolve a WebRTC candidate host name/);
});
