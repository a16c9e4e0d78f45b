#!/usr/bin/env node
/**
 * `grid-bench`: drives N rooms × M peers against a `grid` (started here on loopback, or a
 * running one) over QUIC, the web transport or a mix, with the project's own clients, and
 * measures forwarded voice packets/s, loss, end-to-end latency, join latency and, for a server
 * it started, the server's CPU and RSS. `bench/suite.ts` is the fixed benchmark suite.
 *
 *   node bench/gridBench.ts --transport quic --rooms 20 --peers 5 --speakers 2 --duration 10
 *   node bench/gridBench.ts --quic 10.0.0.5:4433 --access-key "$KEY" --json
 */
import { availableParallelism } from 'node:os';
import { type BenchOptions, BenchUsageError, benchHelp, parseBenchArgs } from './args.ts';
import { type LoadTarget, LoadTest } from './loadTest.ts';
import { ProgressBar } from './progress.ts';
import { fmtBytes, formatTable, joinRows, perPeer, runRows } from './report.ts';
import { hasTaskset, type StartedServer, startGrid, startUdpRelay } from './serverProcess.ts';

/** Default pinning when the bench starts the server: server on CPU 0, clients on the rest. */
export function defaultCpus(options: BenchOptions): {
  server: string | undefined;
  clients: string | undefined;
} {
  if (options.target !== undefined) return { server: undefined, clients: options.clientCpus };
  const cpus = availableParallelism();
  const pin = cpus >= 2 && hasTaskset();
  return {
    server: options.serverCpus ?? (pin ? '0' : undefined),
    clients: options.clientCpus ?? (pin ? (cpus === 2 ? '1' : `1-${cpus - 1}`) : undefined),
  };
}

async function main(argv: string[]): Promise<number> {
  const options = parseBenchArgs(argv, process.env);
  if (options.help) {
    process.stdout.write(benchHelp);
    return 0;
  }
  const cpus = defaultCpus(options);
  const bar = new ProgressBar(process.stderr, options.progress);
  let server: StartedServer | undefined;
  let target: LoadTarget;
  if (options.target === undefined) {
    bar.update('starting the server', 0);
    const start = options.transport === 'udp' ? startUdpRelay : startGrid;
    server = await start({
      ...(cpus.server === undefined ? {} : { cpus: cpus.server }),
      ...(options.cpuProf === undefined ? {} : { cpuProf: options.cpuProf }),
    });
    target = server;
  } else target = options.target;

  let test: LoadTest | undefined;
  try {
    test = await LoadTest.start(
      {
        transport: options.transport,
        rooms: options.rooms,
        peers: options.peers,
        speakers: options.speakers,
        payload: options.payload,
        joinRate: options.joinRate,
        workers: options.workers,
        clientCpus: cpus.clients,
        target,
        serverPid: server?.pid,
      },
      (text, fraction) => bar.update(text, fraction),
    );
    const run = await test.run(
      {
        activeRooms: options.rooms,
        rate: options.rate,
        duration: options.duration,
        warmup: options.warmup,
        align: options.align,
      },
      (text, fraction) => bar.update(text, fraction),
    );
    bar.done();
    const joined = test.joined;
    const idlePerPeer = perPeer(joined.rssBefore, joined.rssAfter, joined.peers);
    const speakingPerPeer = perPeer(joined.rssBefore, run.serverRss, joined.peers);
    if (options.json) {
      const { target: _target, ...shown } = options;
      process.stdout.write(
        `${JSON.stringify(
          {
            options: {
              ...shown,
              server: server ? 'started' : 'running',
              serverCpus: cpus.server,
              clientCpus: cpus.clients,
            },
            join: joined,
            run,
            memory: { idlePerPeer, speakingPerPeer },
          },
          null,
          2,
        )}\n`,
      );
    } else {
      const shape = `${options.rooms} rooms × ${options.peers} peers (${options.speakers} speaking), ${options.rate} packets/s per speaker, ${options.duration} s`;
      const where = server
        ? `grid started here (pid ${server.pid}, CPUs ${cpus.server ?? 'any'})`
        : 'a running server';
      process.stdout.write(
        `${formatTable([
          ['', `grid-bench: ${options.transport}, ${shape}; ${where}`],
          ...joinRows(joined),
          ...runRows(run),
          ['server RSS speaking', `${fmtBytes(speakingPerPeer)} per peer`],
        ])}\n`,
      );
      for (const failure of joined.failures.slice(0, 5)) process.stderr.write(`join failed: ${failure}\n`);
    }
    return joined.failures.length > 0 && joined.peers === 0 ? 1 : 0;
  } finally {
    bar.done();
    await test?.close();
    await server?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`grid-bench: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`grid-bench: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
