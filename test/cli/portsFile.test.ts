import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePortsFile, waitForPortsFile } from '../../server/cli/portsFile.ts';
import { ConfigError, parseConfigText } from '../../server/config/index.ts';

test('the ports file: GRID_*_PORT lines only, each once, ports 1..65535; errors name the line', () => {
  assert.deepEqual(parsePortsFile('GRID_HTTP_PORT=7000\n\nGRID_METRICS_PORT=7002\n', 'f'), {
    GRID_HTTP_PORT: '7000',
    GRID_METRICS_PORT: '7002',
  });
  assert.deepEqual(parsePortsFile('', 'f'), {});
  for (const [text, message] of [
    ['GRID_VERBOSITY=3', /f:1.*GRID_VERBOSITY is not one of/],
    ['GRID_HTTP_PORT=7000\nGRID_HTTP_PORT=7001', /f:2.*set twice/],
    ['GRID_HTTP_PORT=70000', /port 70000 is not 1\.\.65535/],
    ['GRID_HTTP_PORT = x', /expected GRID_<LISTENER>_PORT=<port>/],
  ] as const)
    assert.throws(
      () => parsePortsFile(text, 'f'),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
    );
});

test('grid waits for the file to hold its ports, then they set the listener bindings', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ports-'));
  try {
    const file = join(dir, 'ports');
    writeFileSync(file, ''); // the kubelet writes the empty annotation first
    const waits: number[] = [];
    let wrote = false;
    const ports = await waitForPortsFile(file, {
      pollMs: 5,
      remindMs: 0,
      onWaiting: (ms) => {
        waits.push(ms);
        if (!wrote) {
          wrote = true;
          writeFileSync(file, 'GRID_HTTP_PORT=7010\nGRID_HTTP_WEBRTC_PORT=7011\nGRID_METRICS_PORT=7012\n');
        }
      },
    });
    assert.ok(waits.length >= 1);
    const config = parseConfigText(
      'public_address = "10.0.0.5"\n[http]\nbinding = "0.0.0.0:4433"\n[metrics]\n',
      {
        source: 'config.toml',
        env: ports,
        checkFiles: false,
      },
    );
    assert.equal(config.http?.binding, '0.0.0.0:7010');
    assert.equal(config.http?.webrtc_binding, '0.0.0.0:7011');
    assert.equal(config.metrics?.binding.endsWith(':7012'), true);
    // A missing file is waited for too; the caller's signal ends the wait.
    const controller = new AbortController();
    const waiting = waitForPortsFile(join(dir, 'absent'), {
      pollMs: 5,
      signal: controller.signal,
      onWaiting: () => controller.abort(),
    });
    await assert.rejects(waiting);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
