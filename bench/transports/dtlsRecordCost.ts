/**
 * CPU cost of one outgoing DTLS application-data record on a live werift connection (the web
 * path's per-message crypto), for the record paths the werift patch has: werift's own
 * (`createPlaintext` + `encryptPacket` + `serialize`) and the patch's `encryptRecord` (one buffer),
 * the latter with native/quic's reusable `RecordAead` context (when the addon is built) and with a
 * `createCipheriv` per record (the fallback).
 * CPU time of this process per record, so a loaded machine slows it less than wall-clock figures.
 *
 *   node bench/transports/dtlsRecordCost.ts [records=100000] [payload=130]
 */

import { WebRtcVoice } from '../../client/webrtc/webRtcVoice.ts';
import { UdpMux } from '../../server/transports/web/webrtc/udpMux.ts';
import { createWebRtcSession } from '../../server/transports/web/webrtc/webRtcSession.ts';

const records = Number(process.argv[2] ?? 100_000);
const payload = Buffer.alloc(Number(process.argv[3] ?? 130), 7);

interface DtlsSocketLike {
  transport: { send(record: Buffer): unknown };
  sendNow(data: Buffer): unknown;
  cipher: { cipher: { encryptRecord?: unknown; nativeAeads?: unknown[] } };
}

const mux = await UdpMux.bind({ host: '127.0.0.1', port: 0 });
const session = createWebRtcSession({
  mux,
  candidates: ['127.0.0.1'],
  port: mux.address().port,
  onVoice: () => {},
  onClosed: () => {},
});
const client = new WebRtcVoice({ localAddress: '127.0.0.1', onVoice: () => {} });
await client.acceptAnswer(await session.answer(await client.createOffer()));
await client.waitOpen(30_000);
const socket = (client.peerConnection.sctpTransport as unknown as { dtlsTransport: { dtls: DtlsSocketLike } })
  .dtlsTransport.dtls;
// The records are built and encrypted exactly as for voice, then counted instead of sent: the
// connection's sequence numbers are used up, so it is closed afterwards.
let bytes = 0;
socket.transport = {
  send: (record: Buffer) => {
    bytes += record.length;
  },
};
function timed(name: string): void {
  for (let i = 0; i < 5_000; i++) socket.sendNow(payload);
  bytes = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < records; i++) socket.sendNow(payload);
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / records;
  console.log(`${name.padEnd(52)} ${us.toFixed(2)} µs CPU per record (${bytes / records} bytes)`);
}
const aead = socket.cipher.cipher;
const native = aead.nativeAeads;
for (let round = 0; round < 2; round++) {
  if (native?.some((context) => context !== undefined)) {
    timed('patch: encryptRecord + native RecordAead');
    aead.nativeAeads = [undefined, undefined]; // as without the addon
  }
  timed('patch: encryptRecord + createCipheriv (fallback)');
  aead.nativeAeads = native;
  socket.cipher.cipher.encryptRecord = undefined; // shadows the method: sendNow takes werift's path
  timed('werift: plaintext record + encryptPacket + serialize');
  delete socket.cipher.cipher.encryptRecord;
}
await client.close();
await session.close();
await mux.close();
