/**
 * The real `grid` process under a stand-in gateway: the merged config (and its key) arrives by
 * sfu.GridConfig, reports flow, /readyz is up; SIGTERM turns readiness off, the supervisor hears
 * load 1 at once, and the process exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/waitFor.ts';
import { get } from '../observability/metricsHelpers.ts';
import { FakeGateway } from './fakeGateway.ts';

const gridMain = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const gateway = new FakeGateway();
let dir = '';
before(async () => {
  await gateway.start();
  dir = await mkdtemp(join(tmpdir(), 'grid-supervised-'));
});
after(async () => {
  await gateway.stop();
  await rm(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('grid under a supervisor: merged key, reports, /readyz, and SIGTERM reports load 1 and exits 0', async () => {
  gateway.credentials = 'grid:pw';
  const port = await freePort();
  const config = join(dir, 'config.toml');
  await writeFile(
    config,
    [
      'public_address = "127.0.0.1:4433"',
      '[supervisor]',
      `url = "${gateway.urlWith('grid:pw')}"`,
      'report_interval = 200',
      '[metrics]',
      `binding = "127.0.0.1:${port}"`,
      '[log.terminal]',
      'format = "json"',
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [gridMain, '--config', config], {
    cwd: dir,
    env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GRID_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(
      async () => (await get(port, '/readyz').catch(() => ({ status: 0 }))).status === 200,
      'ready',
    );
    assert.match(output, /configuration merged by the supervisor/);
    assert.match(output, /"keys":1/);
    await waitFor(() => gateway.callsOf('sfu.Report').length >= 2, 'two reports');
    assert.ok(Number(gateway.callsOf('sfu.Report')[0]!.params.load) < 1, 'a fresh server is not full');
    const metrics = await get(port, '/metrics');
    assert.match(metrics.body, /grid_supervisor_reports_total\{result="success"\} [1-9]/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const reports = gateway.callsOf('sfu.Report');
    assert.equal(reports.at(-1)!.params.load, 1, 'the supervisor heard that the server drains');
    assert.doesNotMatch(output, /grid:pw/, 'credentials never in the log');
  } finally {
    child.kill('SIGKILL');
  }
});
