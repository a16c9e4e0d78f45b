/**
 * Forwarded voice datagrams/s through the [quic] listener (not a pass/fail test: run it by hand).
 *   node bench/transports/quicVoiceBlast.ts [seconds] [burst]
 * Server and clients share this process and its one core, so the number is a lower bound of
 * what the server alone does.
 */
import { OdinQuicClient } from '../../client/quic/odinQuicClient.ts';
import { voiceBlast } from '../../client/quic/voiceBlast.ts';
import { startTestGrid } from '../../test/helpers/testGrid.ts';
import { freeUdpPort } from '../../test/transports/quic/helpers.ts';

const seconds = Number(process.argv[2] ?? 5);
const burst = Number(process.argv[3] ?? 10);
const port = await freeUdpPort();
const grid = await startTestGrid({ toml: `[quic]\nbinding = "127.0.0.1:${port}"\n[limit.network]\n` });
const connect = async (user: string) => {
  const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
  const room = await client.joinRoom(await grid.token('bench', user), 'bench');
  return { client, room };
};
const sender = await connect('sender');
await sender.room.startMedia();
const receiver = await connect('receiver');
const before = grid.sfu.voiceStats.forwarded;
const cpuBefore = process.cpuUsage();
const result = await voiceBlast({ sender, receivers: [receiver.client], seconds, burst });
const cpu = process.cpuUsage(cpuBefore);
const forwarded = grid.sfu.voiceStats.forwarded - before;
console.log(
  JSON.stringify({
    seconds: Number(result.seconds.toFixed(2)),
    burst,
    sent: result.sent,
    forwardedByServer: forwarded,
    received: result.received,
    forwardedPerSecond: Math.round(forwarded / result.seconds),
    processCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / result.seconds) * 100),
  }),
);
await sender.client.close();
await receiver.client.close();
await grid.close();
