/**
 * The cold path of the cached LiveKit build (bench/livekit/build.sh: livekit-server and the
 * lk-load client of `npm run bench -- --peer livekit`) with a stand-in `go` ($GO) that "builds"
 * at once: a warm cache hides a broken cold path, so this runs on every change.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { leftovers, runBuildScript, writeStandIn } from './buildScript.ts';

const buildScript = fileURLToPath(new URL('../../bench/livekit/build.sh', import.meta.url));

/**
 * A stand-in for the Go toolchain: `go env GOVERSION`, `go install PKG@VERSION` (writes
 * $GOBIN/server) and `go build -o OUT .`. FAKE_GO_FAIL=install|build makes that step write half
 * a file and fail.
 */
function fakeGo(dir: string): string {
  return writeStandIn(
    dir,
    `#!/usr/bin/env bash
set -eu
case "$1" in
  env) echo go1.26.8 ;;
  install)
    mkdir -p "$GOBIN"
    if [ "\${FAKE_GO_FAIL:-}" = install ]; then
      printf 'half' >"$GOBIN/server"; echo "fake go: install failed" >&2; exit 3
    fi
    printf '#!/bin/sh\\necho livekit-server\\n' >"$GOBIN/server"; chmod +x "$GOBIN/server" ;;
  build)
    out=""
    while [ $# -gt 0 ]; do
      case "$1" in -o) out="$2"; shift 2 ;; -ldflags) shift 2 ;; *) shift ;; esac
    done
    if [ "\${FAKE_GO_FAIL:-}" = build ]; then
      printf 'half' >"$out"; echo "fake go: build failed" >&2; exit 4
    fi
    printf '#!/bin/sh\\necho lk-load\\n' >"$out"; chmod +x "$out" ;;
  *) echo "fake go: unexpected $*" >&2; exit 9 ;;
esac
`,
  );
}

const runBuild = (cache: string, go: string, extraEnv?: Record<string, string>, args?: string[]) =>
  runBuildScript(buildScript, cache, go, extraEnv, args);

describe('bench/livekit/build.sh on an empty cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'odin-livekit-build-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const go = fakeGo(root);

  test('a cold build exits 0, stamps both binaries and prints the bin dir; a warm run builds nothing', async () => {
    const cache = join(root, 'cache-ok');
    const cold = await runBuild(cache, go);
    assert.equal(cold.code, 0, `exit status of a finished cold build\n${cold.stderr}`);
    const bin = cold.stdout.trim();
    assert.equal(bin, join(cache, 'livekit-v1.13.5', 'bin'));
    for (const name of ['livekit-server', 'lk-load']) {
      assert.ok(existsSync(join(bin, name)), `${name} built`);
      assert.match(readFileSync(join(bin, `.stamp-${name}`), 'utf8'), /go1\.26\.8/, `${name} stamped`);
    }
    assert.match(readFileSync(join(bin, '.stamp-lk-load'), 'utf8'), /^v2\.19\.0 go1\.26\.8 [0-9a-f]{16}$/);
    assert.deepEqual(leftovers(bin), [], 'no temporary files left');

    // Warm: a failing go is never called.
    const warm = await runBuild(cache, go, { FAKE_GO_FAIL: 'install' });
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(warm.stdout.trim(), bin);
    assert.doesNotMatch(warm.stderr, /building/, 'a warm run only checks the stamps');
    assert.equal((await runBuild(cache, go, {}, ['--check'])).code, 0);

    // A stamp from another go.sum (or Go) is stale: that binary is rebuilt, the other kept.
    writeFileSync(join(bin, '.stamp-lk-load'), 'v2.19.0 go1.26.8 0000000000000000');
    assert.equal((await runBuild(cache, go, {}, ['--check'])).code, 1);
    const stale = await runBuild(cache, go);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stderr, /building lk-load/);
    assert.doesNotMatch(stale.stderr, /building livekit-server/);
  });

  for (const step of ['install', 'build'] as const) {
    const name = step === 'install' ? 'livekit-server' : 'lk-load';
    test(`a failing go ${step} exits non-zero, names ${name}, leaves no stamp and no half-written binary`, async () => {
      const cache = join(root, `cache-fail-${step}`);
      const failed = await runBuild(cache, go, { FAKE_GO_FAIL: step });
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, new RegExp(`FAILED: ${name}`));
      assert.equal(failed.stdout, '', 'no bin dir printed for a failed build');
      const bin = join(cache, 'livekit-v1.13.5', 'bin');
      assert.ok(!existsSync(join(bin, name)), 'no binary');
      assert.ok(!existsSync(join(bin, `.stamp-${name}`)), 'no stamp');
      assert.deepEqual(leftovers(bin), [], 'no half-written file');
      const resumed = await runBuild(cache, go);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.ok(existsSync(join(bin, name)));
    });
  }

  test('a Go older than server-sdk-go needs is refused before building', async () => {
    const old = writeStandIn(root, '#!/bin/sh\necho go1.25.3\n', 'old-go');
    const run = await runBuild(join(root, 'cache-old'), old);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /go1\.25\.3 is too old/);
  });
});
