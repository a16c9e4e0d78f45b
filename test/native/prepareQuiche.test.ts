/**
 * The cold and warm paths of native/quic/prepare-quiche.sh (the quiche copy patched for
 * reset_stream_at that the native build uses) without crates.io: a stand-in `cargo` whose
 * `fetch` drops a small crate into the registry cache, and a patch for it. A development machine
 * always has the copy, which would hide a broken cold path (a fresh clone, an empty registry).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../native/quic/prepare-quiche.sh', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'odin-prepare-quiche-'));
after(() => rmSync(work, { recursive: true, force: true }));

const cargoHome = join(work, 'cargo-home');
const log = join(work, 'cargo.log');
const dest = join(work, 'patched', 'quiche');
const patch = join(work, 'fix.patch');

// The crate as crates.io has it: a tar.gz of quiche-0.30.0/.
const crateSource = join(work, 'crate-src');
mkdirSync(join(crateSource, 'quiche-0.30.0', 'src'), { recursive: true });
writeFileSync(join(crateSource, 'quiche-0.30.0', 'Cargo.toml'), '[package]\nname = "quiche"\n');
writeFileSync(
  join(crateSource, 'quiche-0.30.0', 'src', 'lib.rs'),
  'fn reset_stream_at() -> bool {\n    false\n}\n',
);
const crate = join(work, 'quiche-0.30.0.crate');
execFileSync('tar', ['-czf', crate, '-C', crateSource, 'quiche-0.30.0']);

function writePatch(to: string): void {
  writeFileSync(
    patch,
    `--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n fn reset_stream_at() -> bool {\n-    false\n+    ${to}\n }\n`,
  );
}

const cargo = join(work, 'cargo');
writeFileSync(
  cargo,
  `#!/usr/bin/env bash
echo "cargo $*" >>"${log}"
if [ "$1" = fetch ]; then mkdir -p "$CARGO_HOME/registry/cache/index.test"; cp "${crate}" "$CARGO_HOME/registry/cache/index.test/"; fi
`,
);
chmodSync(cargo, 0o755);

function run(args: string[] = []): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script, ...args], {
      env: {
        ...process.env,
        PATH: `${work}:${process.env.PATH}`,
        CARGO_HOME: cargoHome,
        ODIN_QUICHE_PATCH: patch,
        ODIN_QUICHE_PATCHED_DIR: dest,
      },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const patched = () => readFileSync(join(dest, 'src', 'lib.rs'), 'utf8');

test('cold: fetches the pinned crate with cargo, patches a copy; warm: only checks the stamp', async () => {
  writePatch('true');
  assert.equal((await run(['--check'])).code, 1, 'nothing prepared yet');
  const cold = await run();
  assert.equal(cold.code, 0, cold.stderr);
  assert.match(
    readFileSync(log, 'utf8'),
    /^cargo fetch --locked --manifest-path patches\/fetch-quiche\/Cargo\.toml$/m,
  );
  assert.match(patched(), /^ {4}true$/m);
  assert.equal(existsSync(`${dest}.tmp`), false);

  writeFileSync(log, '');
  const warm = await run();
  assert.equal(warm.code, 0, warm.stderr);
  assert.equal(readFileSync(log, 'utf8'), '', 'a warm run does not call cargo');
  assert.equal((await run(['--check'])).code, 0);
});

test('a changed patch rebuilds the copy from the pristine crate (never patched twice)', async () => {
  writePatch('1 == 1');
  assert.equal((await run(['--check'])).code, 1, 'the stamp names the patch');
  const result = await run();
  assert.equal(result.code, 0, result.stderr);
  assert.match(patched(), /^ {4}1 == 1$/m);
});

test('a patch that does not apply fails and leaves the last good copy, no half-made one', async () => {
  const before = patched();
  writeFileSync(patch, '--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,1 +1,1 @@\n-no such line\n+x\n');
  const result = await run();
  assert.notEqual(result.code, 0);
  assert.equal(patched(), before);
  assert.equal(existsSync(`${dest}.tmp`), false);
});
