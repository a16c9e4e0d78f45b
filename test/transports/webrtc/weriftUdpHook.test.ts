/**
 * The werift internals the single-port mux stands on. If a werift upgrade breaks one of them,
 * this file says which, before the integration tests fail obscurely.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RTCPeerConnection, UdpTransport } from 'werift';
import {
  HOOKED_WERIFT_VERSION,
  installWeriftUdpHook,
  MuxedUdpTransport,
  muxedIceConfiguration,
} from '../../../server/transports/web/webrtc/weriftUdpHook.ts';
import { bindMux, udpSocketCount } from './helpers.ts';

test('werift is the version the hook was written for', () => {
  // werift's "exports" hide package.json: walk up from its ESM entry (lib/index.mjs).
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('werift')), 'utf8')) as {
    version: string;
  };
  assert.equal(pkg.version, HOOKED_WERIFT_VERSION, 'werift upgraded: re-check weriftUdpHook.ts, then bump');
});

test('werift exports UdpTransport with a static init, the seam the hook replaces', () => {
  assert.equal(typeof (UdpTransport as unknown as { init: unknown }).init, 'function');
  installWeriftUdpHook();
  installWeriftUdpHook(); // idempotent
  assert.equal(typeof (UdpTransport as unknown as { init: unknown }).init, 'function');
});

test('a marked peer connection gathers one candidate on the mux port and opens no socket', async () => {
  const mux = await bindMux();
  const endpoint = mux.createEndpoint();
  const sockets = udpSocketCount();
  const pc = new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceLite: true,
    ...muxedIceConfiguration(mux, endpoint, '127.0.0.1'),
  });
  pc.createDataChannel('audio', { negotiated: true, id: 2, ordered: false, maxRetransmits: 0 });
  await pc.setLocalDescription(await pc.createOffer());
  const candidates = pc
    .localDescription!.sdp.split(/\r?\n/)
    .filter((line) => line.startsWith('a=candidate:'));
  assert.equal(candidates.length, 1, 'werift gathered more than the one advertised address');
  assert.match(candidates[0]!, new RegExp(` 127\\.0\\.0\\.1 ${mux.address().port} typ host`));
  assert.equal(udpSocketCount(), sockets, 'werift opened its own socket: the UdpTransport.init seam moved');

  // The transport werift holds is ours (Connection.protocols[i].transport).
  const internals = pc as unknown as {
    iceTransports: Array<{ connection: { protocols: Array<{ transport: unknown }> } }>;
  };
  const transports = internals.iceTransports.flatMap((t) => t.connection.protocols.map((p) => p.transport));
  assert.equal(transports.length, 1);
  assert.ok(transports[0] instanceof MuxedUdpTransport);

  await pc.close();
  endpoint.close();
  await mux.close();
});

test('an unmarked peer connection still gets werift’s own socket', async () => {
  installWeriftUdpHook();
  const sockets = udpSocketCount();
  const pc = new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
  });
  pc.createDataChannel('audio', { negotiated: true, id: 2 });
  await pc.setLocalDescription(await pc.createOffer());
  assert.equal(udpSocketCount(), sockets + 1);
  await pc.close();
});
