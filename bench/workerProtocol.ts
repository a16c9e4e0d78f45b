/** Messages between the load-test coordinator (loadTest.ts) and its worker processes (worker.ts). */
import type { PeerTransport } from './peers.ts';
import type { HistogramData } from './stats.ts';

export type PeerSpec = {
  /** Unique over the run: the sender number in the packets. */
  index: number;
  transport: PeerTransport;
  /** host:port of the listener for `transport`. */
  address: string;
  room: string;
  roomIndex: number;
  user: string;
  speaker: boolean;
};

export type HistogramMessage = { buckets: HistogramData; min: number; max: number; sum: number };

export type ToWorker =
  | {
      kind: 'join';
      peers: PeerSpec[];
      accessKey: string;
      /** Milliseconds between join starts in this worker. */
      joinIntervalMs: number;
      payload: number;
      timeoutMs: number;
    }
  | {
      kind: 'run';
      /** Times in µs of CLOCK_MONOTONIC (bench/clock.ts). */
      startAt: number;
      windowStart: number;
      windowEnd: number;
      /** Receivers stop counting at this time. */
      collectAt: number;
      /** Rooms whose speakers send; the others stay silent. */
      activeRooms: number[];
      rate: number;
      align: boolean;
    }
  | { kind: 'close' };

export type FromWorker =
  | {
      kind: 'joined';
      connectMs: number[];
      joinMs: number[];
      failures: string[];
    }
  | { kind: 'joinProgress'; done: number }
  | { kind: 'progress'; sent: number; received: number }
  | {
      kind: 'result';
      /** Packets sent inside the window. */
      sent: number;
      /** Deliveries expected for them (sent × receivers in the room). */
      expected: number;
      /** Of those, received before collectAt. */
      received: number;
      /** Sends skipped because the worker fell more than two frames behind. */
      skipped: number;
      /** Sends the client refused (queue full, channel not open). */
      refused: number;
      latency: HistogramMessage;
      /** Share of one core the worker used in the window. */
      cpu: number;
      /** Event-loop delay p99 of the worker in the window, ms. */
      loopDelayP99Ms: number;
      /** Longest and total GC pause of the worker from the start of sending to the end of collecting, ms. */
      gcMaxMs: number;
      gcTotalMs: number;
    }
  | { kind: 'closed' };
