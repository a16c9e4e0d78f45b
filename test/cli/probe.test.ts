import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const probe = join(import.meta.dirname, '..', '..', 'server', 'probe.ts');

/** Exit code of `grid-probe <path>` with this ports file. */
function run(path: string, portsFile: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const env = { ...process.env, GRID_PORTS_FILE: portsFile ?? '' };
    execFile(process.execPath, [probe, path], { env }, (error) =>
      resolve(error ? ((error as { code?: number }).code ?? 1) : 0),
    );
  });
}

test('grid-probe asks the metrics port of the ports file; a server still waiting for its ports is alive, not ready', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probe-'));
  let ready = false;
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' || ready ? 200 : 503;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const file = join(dir, 'ports');
    writeFileSync(file, '');
    assert.equal(await run('/readyz', file), 1, 'no ports yet: not ready');
    assert.equal(await run('/healthz', file), 0, 'no ports yet: alive (grid waits for them)');
    const { port } = server.address() as AddressInfo;
    writeFileSync(file, `GRID_HTTP_PORT=7000\nGRID_METRICS_PORT=${port}\n`);
    assert.equal(await run('/readyz', file), 1, '/readyz answers 503');
    ready = true;
    assert.equal(await run('/readyz', file), 0);
    assert.equal(await run('/healthz', file), 0);
    assert.equal(await run('/other', file), 1);
    server.close();
    assert.equal(await run('/healthz', file), 1, 'the port is known and nothing answers: dead');
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
