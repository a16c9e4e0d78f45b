/**
 * A `grid` under web load stops on SIGTERM, and the bench reports the ended server as a result.
 *
 * The bench's own server process (bench/serverProcess.ts) with web peers speaking while more
 * are joining. SIGTERM used to leave the process running for ~33 s after "stopped": werift kept
 * retransmitting DTLS handshake flights of peer connections already closed, on ref'd timers
 * (patches/werift+0.25.2.patch, `Flight.transportClosed`). The load test that was measuring
 * then reads the window's end from a process that is gone: it reports `serverEnded`, where it
 * used to throw ENOENT from /proc.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoadTest } from '../../bench/loadTest.ts';
import { type ProcessExit, readServerCounters, startGrid } from '../../bench/serverProcess.ts';
import { WAIT_CAP_MS, waitFor } from '../helpers/waitFor.ts';

const webPlan = (target: Awaited<ReturnType<typeof startGrid>>, rooms: number, roomPrefix: string) => ({
  transport: 'web' as const,
  rooms,
  peers: 5,
  speakers: 2,
  payload: 60,
  joinRate: 20,
  workers: 1,
  clientCpus: undefined,
  target,
  serverPid: target.pid,
  roomPrefix,
});

/** `promise`, or a rejection naming `what` after the suite's generous cap for an event. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${WAIT_CAP_MS} ms waiting for ${what}`)),
      WAIT_CAP_MS,
    );
  });
  try {
    return await Promise.race([promise, cap]);
  } finally {
    clearTimeout(timer);
  }
}

test('a grid with web peers speaking and joining exits on SIGTERM; the load test reports it ended', async () => {
  const server = await startGrid({ cpus: 'none' });
  const speaking = await LoadTest.start(webPlan(server, 2, 'speaking'));
  let joining: Promise<LoadTest | undefined> | undefined;
  try {
    // A peer that misses its join on a busy machine does not matter here: voice must flow.
    assert.ok(speaking.joined.peers > 0, `no peer joined: ${speaking.joined.failures[0]}`);
    const run = speaking.run({ activeRooms: 2, rate: 50, duration: 8, warmup: 1, align: false });
    await waitFor(async () => ((await readServerCounters(server))?.out ?? 0) > 0, 'voice forwarded by grid');

    // More peers joining: when the signal comes, some are in the middle of their handshakes.
    let joined = 0;
    let firstJoined: () => void = () => {};
    const someJoined = new Promise<void>((resolve) => (firstJoined = resolve));
    joining = LoadTest.start(webPlan(server, 8, 'joining'), (text) => {
      joined = Number(/joining (\d+)\//.exec(text)?.[1] ?? joined);
      if (joined >= 2) firstJoined();
    }).catch(() => undefined); // the server goes away under it
    await within(someJoined, 'the first peers of the second batch to join');

    process.kill(server.pid, 'SIGTERM');
    const exit: ProcessExit = await within(server.exited!, 'grid to exit after SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, 'a clean exit, not the SIGKILL fallback');

    const result = await run;
    assert.equal(result.serverEnded, true);
    assert.equal(result.serverCpu, undefined);
  } finally {
    await speaking.close();
    await (await joining)?.close();
    await server.stop();
  }
});
