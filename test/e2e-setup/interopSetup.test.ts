/**
 * The cold and warm paths of the interop clients' installs (e2e/setup/aioquic.sh and
 * e2e/interop/build-webtransport-go.sh) without PyPI or the Go proxy: stand-in `python3` and
 * `go` that record their calls and "install"/"build" at once. The machines that run the
 * interop tests usually have a warm cache, which would hide a broken cold path.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'odin-interop-setup-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, script), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function standIn(name: string, body: string): string {
  const path = join(work, name);
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('aioquic.sh: a cold run makes the venv and pins both packages; a warm run only checks the stamp', async () => {
  const log = join(work, 'python.log');
  // `python3 -m venv DIR` makes DIR/bin/{python,pip}; pip records what it was asked to install.
  const python = standIn(
    'python3',
    `echo "python $*" >>"${log}"; dir="$3"; mkdir -p "$dir/bin"
printf '#!/usr/bin/env bash\\necho "pip $*" >>"${log}"\\n' >"$dir/bin/pip"; chmod +x "$dir/bin/pip"
printf '#!/usr/bin/env bash\\n' >"$dir/bin/python"; chmod +x "$dir/bin/python"`,
  );
  const env = { ODIN_GRID_CACHE: join(work, 'cache-py'), PYTHON: python };
  assert.equal((await run('e2e/setup/aioquic.sh', ['--check'], env)).code, 1);
  const cold = await run('e2e/setup/aioquic.sh', [], env);
  assert.equal(cold.code, 0, cold.stderr);
  const venvPython = cold.stdout.trim();
  assert.match(venvPython, /cache-py\/aioquic-1\.7\.2-msgpack-1\.2\.4\/bin\/python$/);
  assert.ok(existsSync(venvPython));
  assert.match(readFileSync(log, 'utf8'), /pip install .*aioquic==1\.7\.2 msgpack==1\.2\.4/);
  writeFileSync(log, '');
  const warm = await run('e2e/setup/aioquic.sh', [], env);
  assert.equal(warm.stdout.trim(), venvPython);
  assert.equal(readFileSync(log, 'utf8'), '', 'a warm run calls neither python nor pip');
  assert.equal((await run('e2e/setup/aioquic.sh', ['--check'], env)).code, 0);
});

test('build-webtransport-go.sh: a cold run builds from the pinned module; a warm run reuses the binary', async () => {
  const log = join(work, 'go.log');
  const go = standIn(
    'go',
    `if [ "$1" = env ]; then echo go1.26.0; exit 0; fi
echo "go $* in $PWD" >>"${log}"
while [ $# -gt 0 ]; do if [ "$1" = -o ]; then printf '#!/bin/sh\\n' >"$2"; chmod +x "$2"; fi; shift; done`,
  );
  const env = { ODIN_GRID_CACHE: join(work, 'cache-go'), GO: go };
  assert.equal((await run('e2e/interop/build-webtransport-go.sh', ['--check'], env)).code, 1);
  const cold = await run('e2e/interop/build-webtransport-go.sh', [], env);
  assert.equal(cold.code, 0, cold.stderr);
  const binary = cold.stdout.trim();
  assert.match(binary, /cache-go\/interop\/webtransport-go\/webtransport-go-probe$/);
  assert.ok(existsSync(binary));
  assert.match(readFileSync(log, 'utf8'), /go build -mod=readonly .* in .*e2e\/interop\/webtransport-go/);
  writeFileSync(log, '');
  const warm = await run('e2e/interop/build-webtransport-go.sh', [], env);
  assert.equal(warm.stdout.trim(), binary);
  assert.equal(readFileSync(log, 'utf8'), '', 'a warm run builds nothing');
});
