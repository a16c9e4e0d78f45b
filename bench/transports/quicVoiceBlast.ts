/**
 * Forwarded voice datagrams/s through the [quic] listener, or with `http2` through WebTransport
 * over HTTP/2 on the [http] port (not a pass/fail test: run it by hand).
 *   node bench/transports/quicVoiceBlast.ts [seconds] [burst] [quic|http2]
 * `forwardedPerServerCpuSecond` divides by the server's CPU share: the per-core figure, which
 * stays comparable when other processes share the machine.
 * The server runs in its own process (bench/serverProcess.ts), started as the bench suite
 * starts it; `forwardedByServer` comes from its /metrics, `serverCpuPercent` from /proc.
 */
import { OdinQuicClient } from '../../client/quic/odinQuicClient.ts';
import { voiceBlast } from '../../client/quic/voiceBlast.ts';
import { signToken } from '../../common/auth/index.ts';
import { cpuShare, sampleProcess } from '../procStat.ts';
import { readServerCounters, startGrid } from '../serverProcess.ts';

const seconds = Number(process.argv[2] ?? 5);
const burst = Number(process.argv[3] ?? 10);
const transport = process.argv[4] === 'http2' ? 'http2' : 'quic';
const grid = await startGrid({});
const [host, port] = (transport === 'http2' ? grid.web! : grid.quic!).split(':') as [string, string];
const connect = async (user: string) => {
  const client = await OdinQuicClient.connect({
    host,
    port: Number(port),
    insecure: true,
    transport,
    log: () => {},
  });
  const room = await client.joinRoom(await signToken(grid.accessKey, { rid: 'bench', uid: user }), 'bench');
  return { client, room };
};
try {
  const sender = await connect('sender');
  await sender.room.startMedia();
  const receiver = await connect('receiver');
  const before = await readServerCounters(grid);
  const cpuBefore = sampleProcess(grid.pid);
  const result = await voiceBlast({ sender, receivers: [receiver.client], seconds, burst });
  const cpuAfter = sampleProcess(grid.pid);
  const after = await readServerCounters(grid);
  const share = cpuBefore && cpuAfter ? cpuShare(cpuBefore, cpuAfter) : undefined;
  if (cpuAfter === undefined)
    console.error(`grid (pid ${grid.pid}) ended during the blast:\n${await grid.logTail()}`);
  const forwarded = before && after ? after.out - before.out : undefined;
  console.log(
    JSON.stringify({
      transport,
      seconds: Number(result.seconds.toFixed(2)),
      burst,
      sent: result.sent,
      forwardedByServer: forwarded,
      received: result.received,
      forwardedPerSecond: forwarded === undefined ? undefined : Math.round(forwarded / result.seconds),
      serverCpuPercent: share === undefined ? undefined : Math.round(share * 100),
      forwardedPerServerCpuSecond:
        forwarded === undefined || share === undefined
          ? undefined
          : Math.round(forwarded / result.seconds / share),
    }),
  );
  await sender.client.close();
  await receiver.client.close();
} finally {
  await grid.stop();
}
