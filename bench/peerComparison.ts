/**
 * `npm run bench -- --peer livekit`: grid's web and QUIC paths beside LiveKit, same room
 * shapes, same machine, same run (docs/performance.md, "LiveKit side by side"). This module
 * holds the shapes and turns the measured results into the comparison table; the measuring is
 * suite.ts's (the same probes for every side).
 */
import { fmtBytes, fmtInt, fmtMs } from './report.ts';
import { median } from './stats.ts';

/** quic: grid's QUIC path, on the native engine (docs/native-quic.md). */
export type PeerSide = 'web' | 'quic' | 'livekit';
export const PEER_SIDES: readonly PeerSide[] = ['web', 'quic', 'livekit'];
/** Older names of a side, still accepted by --only (documented commands use them). */
export const PEER_SIDE_ALIASES: Readonly<Record<string, PeerSide>> = { 'quic-native': 'quic' };

/** Audio-only game rooms: 40 rooms of 5 and of 10, 2 speaking in each. */
export const PEER_ROOM_SIZES: readonly number[] = [5, 10];
export const PEER_ROOMS = 40;
export const PEER_SPEAKERS = 2;
/**
 * Joins started per second. Slower than the suite's (web 25/s): on a machine shared with other
 * work, WebRTC set-ups (grid's web peers; LiveKit's two peer connections per participant) that
 * pile up get refused (grid's `max_unauthenticated_per_address`) or time out.
 */
export const PEER_JOIN_RATE: Record<PeerSide, number> = {
  web: 10,
  quic: 100,
  livekit: 10,
};

export const SIDE_NAMES: Record<PeerSide, string> = {
  web: 'grid web (WebSocket + data channel)',
  quic: 'grid QUIC (native engine)',
  livekit: 'LiveKit v1.13.5 (--dev)',
};

/** What the comparison reads of one measured side (a subset of suite.ts's TransportResult). */
export type SideResult = {
  maxSustained: number;
  bound: string;
  perServerCore: number | undefined;
  halfLoad: { p50: number; p99: number } | undefined;
  memory: { idlePerPeer: number | undefined; speakingPerPeer: number | undefined };
  probes: readonly { activeRooms: number; out: number; loss: number; serverCpu: number | undefined }[];
};

export type SideRun = { side: PeerSide; peers: number; result: SideResult };

export type ComparisonRow = {
  side: PeerSide;
  peers: number;
  runs: number;
  maxSustained: number | undefined;
  bound: string;
  perServerCore: number | undefined;
  /** perServerCore ÷ LiveKit's at the same room size (medians of the runs); undefined for LiveKit. */
  ratioToLiveKit: number | undefined;
  /**
   * Forwarded/s per server core at the same offered load on every side: the most rooms
   * speaking that every side of this room size carried with < 1% loss in every run. Unlike
   * perServerCore it needs no probe to pass the latency and schedule checks, so it stays
   * comparable when a busy machine starves the load clients.
   */
  equalLoad: { activeRooms: number; out: number | undefined; perServerCore: number | undefined } | undefined;
  equalLoadRatio: number | undefined;
  /**
   * Forwarded/s per server core at this side's own busiest probe with < 1% loss (schedule and
   * latency checks aside): what the server does per core when most loaded, where its fixed
   * per-second costs (timers, RTCP, consent checks) weigh least. Medians of the runs.
   */
  busiest: { out: number | undefined; perServerCore: number | undefined } | undefined;
  busiestRatio: number | undefined;
  p50: number | undefined;
  p99: number | undefined;
  idlePerPeer: number | undefined;
  speakingPerPeer: number | undefined;
};

function medianOf<T>(items: readonly T[], pick: (item: T) => number | undefined): number | undefined {
  const values = items.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return values.length === 0 ? undefined : median(values);
}

/** The busiest probe with < 1% loss of each run (server CPU known), as medians over the runs. */
function busiestOf(results: readonly SideResult[]): { busiest: ComparisonRow['busiest'] } {
  const tops = results
    .map((r) =>
      r.probes
        .filter((p) => p.loss < 0.01 && p.serverCpu !== undefined && p.serverCpu > 0)
        .reduce<SideResult['probes'][number] | undefined>(
          (best, p) => (best === undefined || p.out > best.out ? p : best),
          undefined,
        ),
    )
    .filter((p) => p !== undefined);
  if (tops.length === 0) return { busiest: undefined };
  return {
    busiest: {
      out: medianOf(tops, (p) => p.out),
      perServerCore: medianOf(tops, (p) => p.out / p.serverCpu!),
    },
  };
}

/** One row per side and room size, in the order measured; medians when repeated. */
export function compare(runs: readonly SideRun[]): ComparisonRow[] {
  const keys: { side: PeerSide; peers: number }[] = [];
  for (const run of runs) {
    if (!keys.some((k) => k.side === run.side && k.peers === run.peers)) {
      keys.push({ side: run.side, peers: run.peers });
    }
  }
  const rows = keys.map(({ side, peers }) => {
    const mine = runs.filter((r) => r.side === side && r.peers === peers).map((r) => r.result);
    return {
      side,
      peers,
      runs: mine.length,
      maxSustained: medianOf(mine, (r) => r.maxSustained),
      bound: mine.map((r) => r.bound).join(','),
      perServerCore: medianOf(mine, (r) => r.perServerCore),
      ratioToLiveKit: undefined as number | undefined,
      equalLoad: undefined as ComparisonRow['equalLoad'],
      equalLoadRatio: undefined as number | undefined,
      ...busiestOf(mine),
      busiestRatio: undefined as number | undefined,
      p50: medianOf(mine, (r) => r.halfLoad?.p50),
      p99: medianOf(mine, (r) => r.halfLoad?.p99),
      idlePerPeer: medianOf(mine, (r) => r.memory.idlePerPeer),
      speakingPerPeer: medianOf(mine, (r) => r.memory.speakingPerPeer),
    };
  });
  for (const peers of new Set(rows.map((r) => r.peers))) {
    const mine = runs.filter((r) => r.peers === peers);
    const clean = (r: SideRun) =>
      new Set(
        r.result.probes.filter((p) => p.loss < 0.01 && p.serverCpu !== undefined).map((p) => p.activeRooms),
      );
    const sets = mine.map(clean);
    const common = [...(sets[0] ?? [])].filter((rooms) => sets.every((set) => set.has(rooms)));
    if (common.length === 0) continue;
    const activeRooms = Math.max(...common);
    for (const row of rows.filter((r) => r.peers === peers)) {
      const at = mine
        .filter((r) => r.side === row.side)
        .map((r) => r.result.probes.find((p) => p.activeRooms === activeRooms && p.loss < 0.01)!);
      row.equalLoad = {
        activeRooms,
        out: medianOf(at, (p) => p.out),
        perServerCore: medianOf(at, (p) => (p.serverCpu! > 0 ? p.out / p.serverCpu! : undefined)),
      };
    }
    const livekit = rows.find((r) => r.side === 'livekit' && r.peers === peers)?.equalLoad?.perServerCore;
    for (const row of rows.filter((r) => r.peers === peers && r.side !== 'livekit')) {
      const mineAt = row.equalLoad?.perServerCore;
      if (livekit !== undefined && livekit > 0 && mineAt !== undefined) row.equalLoadRatio = mineAt / livekit;
    }
  }
  for (const row of rows) {
    if (row.side === 'livekit') continue;
    const livekit = rows.find((r) => r.side === 'livekit' && r.peers === row.peers);
    const livekitBusiest = livekit?.busiest?.perServerCore;
    if (livekitBusiest !== undefined && livekitBusiest > 0 && row.busiest?.perServerCore !== undefined) {
      row.busiestRatio = row.busiest.perServerCore / livekitBusiest;
    }
    if (
      livekit?.perServerCore !== undefined &&
      livekit.perServerCore > 0 &&
      row.perServerCore !== undefined
    ) {
      row.ratioToLiveKit = row.perServerCore / livekit.perServerCore;
    }
  }
  return rows;
}

/** The comparison as a fixed-width table, one block per room size. */
export function formatComparison(rows: readonly ComparisonRow[]): string {
  const header = [
    'server',
    'max sustained/s',
    'per server core',
    'grid/LiveKit',
    'equal load: out/s, per core',
    'grid/LiveKit',
    'busiest < 1% loss: out/s, per core',
    'grid/LiveKit',
    'p50 ms',
    'p99 ms',
    'RSS idle/peer',
    'RSS speaking/peer',
  ];
  const lines: string[][] = [];
  const sizes = [...new Set(rows.map((r) => r.peers))];
  for (const peers of sizes) {
    lines.push([`rooms of ${peers}, ${PEER_SPEAKERS} speaking, 50 packets/s per speaker`]);
    for (const row of rows.filter((r) => r.peers === peers)) {
      lines.push([
        SIDE_NAMES[row.side],
        `${fmtInt(row.maxSustained)} (${row.bound})`,
        fmtInt(row.perServerCore),
        row.ratioToLiveKit === undefined ? '' : `${row.ratioToLiveKit.toFixed(2)} ×`,
        row.equalLoad === undefined
          ? ''
          : `${row.equalLoad.activeRooms} rooms: ${fmtInt(row.equalLoad.out)}, ${fmtInt(row.equalLoad.perServerCore)}`,
        row.equalLoadRatio === undefined ? '' : `${row.equalLoadRatio.toFixed(2)} ×`,
        row.busiest === undefined ? '' : `${fmtInt(row.busiest.out)}, ${fmtInt(row.busiest.perServerCore)}`,
        row.busiestRatio === undefined ? '' : `${row.busiestRatio.toFixed(2)} ×`,
        fmtMs(row.p50),
        fmtMs(row.p99),
        fmtBytes(row.idlePerPeer),
        fmtBytes(row.speakingPerPeer),
      ]);
    }
  }
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.filter((l) => l.length > 1).map((l) => l[i]!.length)),
  );
  const fmt = (cells: string[]) =>
    cells.length === 1
      ? cells[0]!
      : cells
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd();
  return [fmt(header), ...lines.map(fmt)].join('\n');
}
