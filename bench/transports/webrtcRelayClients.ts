/**
 * Child process of webrtcRelayThroughput.ts: N pairs of werift voice clients. Pair i's client A sends
 * 100-byte packets at `rate`/s; its client B counts what arrives through the server.
 * Talks to the parent over IPC: offers out, answers in, counts out. The parent may answer the
 * offers in waves (`first`: the index of the wave's first client); each wave's 'open' is sent
 * once its channels opened, so a loaded machine connects a few peers at a time.
 */
import { WebRtcVoice } from '../../client/webrtc/webRtcVoice.ts';

type FromParent =
  | { kind: 'answers'; answers: string[]; first?: number }
  | { kind: 'start'; rate: number; seconds: number };

const pairs = Number(process.argv[2] ?? 1);
const clients: WebRtcVoice[] = [];
let received = 0;
let latencySum = 0;
for (let i = 0; i < pairs * 2; i++) {
  clients.push(
    new WebRtcVoice({
      localAddress: '127.0.0.1',
      maxBufferedBytes: 1 << 20,
      onVoice: (bytes) => {
        received++;
        latencySum += Date.now() - Number(Buffer.from(bytes).readBigUInt64BE(0));
      },
    }),
  );
}
const offers = await Promise.all(clients.map((c) => c.createOffer()));
process.send!({ kind: 'offers', offers });

process.on('message', async (message: FromParent) => {
  if (message.kind === 'answers') {
    const first = message.first ?? 0;
    const wave = clients.slice(first, first + message.answers.length);
    await Promise.all(wave.map((c, i) => c.acceptAnswer(message.answers[i]!)));
    const opened = await Promise.allSettled(wave.map((c) => c.waitOpen(60_000)));
    const stuck = wave.filter((_, i) => opened[i]!.status === 'rejected');
    if (stuck.length > 0) {
      // Where the connections stopped (ICE, DTLS or SCTP), for a failure that only load reproduces.
      const states = stuck.map((c) => {
        const pc = c.peerConnection;
        const sctp = pc.sctpTransport as unknown as {
          dtlsTransport?: { state?: string };
          sctp?: { associationState?: number };
        };
        return `ice ${pc.iceConnectionState}, pc ${pc.connectionState}, dtls ${sctp?.dtlsTransport?.state}, sctp association ${sctp?.sctp?.associationState}`;
      });
      console.error(
        `${stuck.length} of ${wave.length} clients not open after 60 s:\n  ${states.join('\n  ')}`,
      );
      process.exit(1);
    }
    process.send!({ kind: 'open' });
    return;
  }
  const { rate, seconds } = message;
  const senders = clients.filter((_, i) => i % 2 === 0);
  const payload = Buffer.alloc(100, 7);
  let sent = 0;
  let refused = 0;
  const started = Date.now();
  const tickMs = 10;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - started;
      const due = Math.floor((elapsed / 1000) * rate);
      for (const sender of senders) {
        for (let k = sent / senders.length; k < due; k++) {
          const packet = Buffer.from(payload);
          packet.writeBigUInt64BE(BigInt(Date.now()), 0);
          if (!sender.sendVoice(packet)) refused++;
        }
      }
      sent = due * senders.length;
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  await new Promise((r) => setTimeout(r, 500));
  process.send!({
    kind: 'done',
    sent,
    refused,
    received,
    meanLatencyMs: received ? latencySum / received : 0,
  });
  received = 0;
  latencySum = 0;
});
