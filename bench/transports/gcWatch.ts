/**
 * Counts this process's garbage collections while a bench phase runs: scavenges (young
 * generation) and mark-compacts (old), with the time V8 reported for each, plus the size the
 * young generation has grown to. The price of a smaller `--max-semi-space-size` is more
 * scavenges; this is how the benches show it next to their throughput.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

export interface GcCounts {
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactMs: number;
}

export function watchGc(): { stop(): GcCounts } {
  const counts: GcCounts = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        counts.scavenges++;
        counts.scavengeMs += entry.duration;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        counts.markCompacts++;
        counts.markCompactMs += entry.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      observer.disconnect();
      return counts;
    },
  };
}

/** The young generation's current size (both semi-spaces and the new large-object space), bytes. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics()
    .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
    .reduce((sum, s) => sum + s.space_size, 0);
}

export function describeGc(gc: GcCounts): string {
  return (
    `GC ${gc.scavenges} scavenges (${gc.scavengeMs.toFixed(0)} ms), ${gc.markCompacts} mark-compacts ` +
    `(${gc.markCompactMs.toFixed(0)} ms), young generation ${(youngGenerationBytes() / 1048576).toFixed(1)} MiB`
  );
}
