/**
 * What the cold-path tests of the cached build scripts (e2e/cluster/build.sh,
 * bench/livekit/build.sh) share: run the script on a given cache with a stand-in `go`, and
 * install that stand-in as an executable.
 */
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type BuildRun = { code: number | null; stdout: string; stderr: string };

/** Writes the stand-in toolchain `script` as `dir/<name>` (executable) and returns its path. */
export function writeStandIn(dir: string, script: string, name = 'go'): string {
  const path = join(dir, name);
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return path;
}

/**
 * Runs `bash buildScript ...args` with the cache at `cache` and `go` as $GO, unniced (a
 * niced child would only slow the test), and collects its exit status and output.
 */
export function runBuildScript(
  buildScript: string,
  cache: string,
  go: string,
  extraEnv: Record<string, string> = {},
  args: string[] = [],
): Promise<BuildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [buildScript, ...args], {
      env: { ...process.env, ODIN_GRID_CACHE: cache, GO: go, ODIN_BUILD_NICE: '0', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Temporary files a build left in `bin` (an interrupted or failed step must leave none). */
export const leftovers = (bin: string): string[] => readdirSync(bin).filter((f) => f.endsWith('.tmp'));
