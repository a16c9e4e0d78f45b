/**
 * The cold path of the cached e2e control-plane build (e2e/cluster/build.sh), without its
 * 18 minutes: a stand-in `go` ($GO) that "builds" each binary at once. A warm cache hides a
 * broken cold path (a finished build once exited 1 from its EXIT trap), so CI runs this on
 * every change instead of trusting the cache it happens to have.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { leftovers, runBuildScript, writeStandIn } from './buildScript.ts';

const buildScript = fileURLToPath(new URL('../../e2e/cluster/build.sh', import.meta.url));
const binaries = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'etcd',
  'kwok',
  'helm',
];

/**
 * A stand-in for the Go toolchain: `go env GOVERSION`, `go list -m -f {{.Dir}} MODULE` (a
 * folder holding kwok's stage files) and `go build -o OUT PKG`, which writes a small
 * executable. FAKE_GO_FAIL=<package suffix> makes that build write half a file and fail.
 */
function fakeGo(dir: string): string {
  const moduleDir = join(dir, 'kwok-module');
  for (const stage of [
    'node/fast/node-initialize.yaml',
    'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
    'pod/fast/pod-ready.yaml',
    'pod/fast/pod-complete.yaml',
    'pod/fast/pod-delete.yaml',
  ]) {
    const path = join(moduleDir, 'kustomize/stage', stage);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, `kind: Stage\nmetadata:\n  name: ${stage}\n`);
  }
  return writeStandIn(
    dir,
    `#!/usr/bin/env bash
set -eu
case "$1" in
  env) echo go1.26.8 ;;
  list) echo ${JSON.stringify(moduleDir)} ;;
  build)
    out=""; pkg=""
    while [ $# -gt 0 ]; do
      case "$1" in -o) out="$2"; shift 2 ;; -ldflags) shift 2 ;; *) pkg="$1"; shift ;; esac
    done
    if [ -n "\${FAKE_GO_FAIL:-}" ] && [[ "$pkg" == *"$FAKE_GO_FAIL" ]]; then
      printf 'half' >"$out"; echo "fake go: build of $pkg failed" >&2; exit 3
    fi
    printf '#!/bin/sh\\necho %s\\n' "$pkg" >"$out"; chmod +x "$out" ;;
  *) echo "fake go: unexpected $*" >&2; exit 9 ;;
esac
`,
  );
}

const runBuild = (cache: string, go: string, extraEnv?: Record<string, string>, args?: string[]) =>
  runBuildScript(buildScript, cache, go, extraEnv, args);

describe('e2e/cluster/build.sh on an empty cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'odin-build-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const go = fakeGo(root);

  test('a cold build exits 0, stamps every binary and prints the bin dir; a warm run builds nothing', async () => {
    const cache = join(root, 'cache-ok');
    const cold = await runBuild(cache, go);
    assert.equal(cold.code, 0, `exit status of a finished cold build\n${cold.stderr}`);
    const bin = cold.stdout.trim();
    assert.match(bin, /\/k8s-v[0-9.]+\/bin$/);
    assert.ok(bin.startsWith(cache), `the bin dir is under the cache: ${bin}`);
    for (const name of binaries) {
      assert.ok(existsSync(join(bin, name)), `${name} built`);
      assert.ok(readFileSync(join(bin, `.stamp-${name}`), 'utf8').length > 0, `${name} stamped`);
    }
    assert.match(readFileSync(join(bin, 'kwok-stages.yaml'), 'utf8'), /pod-ready/);
    assert.deepEqual(leftovers(bin), [], 'no temporary files left');

    const warm = await runBuild(cache, go, { FAKE_GO_FAIL: 'kube-apiserver' });
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(warm.stdout.trim(), bin);
    assert.doesNotMatch(warm.stderr, /building/, 'a warm run only checks the stamps');

    const check = await runBuild(cache, go, {}, ['--check']);
    assert.equal(check.code, 0, '--check: everything is built');
  });

  test('a failing go build exits non-zero, names the binary, and leaves no stamp and no half-written binary', async () => {
    const cache = join(root, 'cache-fail');
    assert.equal((await runBuild(cache, go, {}, ['--check'])).code, 1, '--check on an empty cache');
    const failed = await runBuild(cache, go, { FAKE_GO_FAIL: 'kube-scheduler' });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /FAILED: kube-scheduler/);
    assert.equal(failed.stdout, '', 'no bin dir printed for a failed build');
    const bin = join(cache, readdirSync(cache).find((d) => d.startsWith('k8s-'))!, 'bin');
    assert.ok(!existsSync(join(bin, 'kube-scheduler')), 'no binary');
    assert.ok(!existsSync(join(bin, '.stamp-kube-scheduler')), 'no stamp');
    assert.deepEqual(leftovers(bin), [], 'no half-written file');
    // What was built before the failure is kept: the next run resumes there.
    assert.ok(existsSync(join(bin, '.stamp-kube-apiserver')));
    const resumed = await runBuild(cache, go);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /building 5 binaries/);
  });

  test('a Go older than Kubernetes needs, or none at all, is refused before building', async () => {
    const old = writeStandIn(root, '#!/bin/sh\necho go1.20.1\n', 'old-go');
    const tooOld = await runBuild(join(root, 'cache-old'), old);
    assert.equal(tooOld.code, 2);
    assert.match(tooOld.stderr, /go1\.20\.1 is too old: Kubernetes v[0-9.]+ needs go >= /);
    const none = await runBuild(join(root, 'cache-none'), join(root, 'no-such-go'));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no Go toolchain found/);
  });
});
