/**
 * The ODIN docs' minimal supervised config.toml (`[supervisor] url` alone, the fixture copied
 * from the docs) runs the real `grid` process: public_address, listeners and the server's key
 * all come from the stand-in gateway's `sfu.GridConfig` answer. The fixture's URL points at
 * the docs' localhost:7000; GRID_SUPERVISOR_URL points it at the stand-in, as a pod's
 * environment would.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../common/auth/index.ts';
import { get } from '../observability/metricsHelpers.ts';
import { FakeGateway } from './fakeGateway.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const minimalConfig = join(repo, 'test/fixtures/odin-docs/minimal-supervised.toml');
const gateway = new FakeGateway();
let dir = '';
before(async () => {
  await gateway.start();
  dir = await mkdtemp(join(tmpdir(), 'grid-minimal-supervised-'));
});
after(async () => {
  await gateway.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  gateway.calls.length = 0;
  gateway.recommended = {};
});

/** A port free right now (TCP; the WebRTC port is UDP, whose space is separate but as empty here). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function startGrid(): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GRID_')));
  const child = spawn(process.execPath, [join(repo, 'server/main.ts'), '--config', minimalConfig], {
    cwd: dir,
    // A report cycle far longer than any wait below: a first report that waited for one (a
    // warm-up) would never arrive in time, whatever the machine's load.
    // GRID_SUPERVISOR_VERSION as the docs' `version = 123456`: a number, which the gateway reads
    // as a string.
    env: {
      ...env,
      GRID_SUPERVISOR_URL: gateway.url,
      GRID_SUPERVISOR_REPORT_INTERVAL: '600000',
      GRID_SUPERVISOR_VERSION: '123456',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

test('it starts with public_address, listeners and key from sfu.GridConfig, and reports at once', async () => {
  const [httpPort, webrtcPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  gateway.recommended = {
    public_address: '127.0.0.1',
    http: { binding: `127.0.0.1:${httpPort}`, webrtc_binding: `127.0.0.1:${webrtcPort}` },
    metrics: { binding: `127.0.0.1:${metricsPort}` },
  };
  const grid = startGrid();
  try {
    await waitFor(
      async () => (await get(metricsPort, '/readyz').catch(() => ({ status: 0 }))).status === 200,
      'ready',
    );
    const [gridConfig] = gateway.callsOf('sfu.GridConfig');
    assert.equal(gridConfig?.params.public_endpoint, undefined, 'the server did not know its address yet');
    assert.equal(gridConfig?.params.version, '123456', '[supervisor] version, sent in decimal');
    assert.match(grid.output(), /configuration merged by the supervisor/);

    // no_warmup = false (the default): the first report goes out at once, under the address the
    // supervisor gave, with the HTTP listener's port.
    await waitFor(() => gateway.callsOf('sfu.Report').length >= 1, 'the first report');
    assert.equal(gateway.callsOf('sfu.Report')[0]!.params.public_endpoint, `127.0.0.1:${httpPort}`);
    assert.equal(gateway.callsOf('sfu.Report')[0]!.params.version, '123456');

    // The key the gateway derived (from the caller's address, as it does without public_endpoint)
    // arrived: the web listener's Connect accepts a token it signed and names the address.
    const token = await signToken(FakeGateway.keyFor('127.0.0.1:4433'), { uid: 'u', rid: 'r' });
    const answer = await fetch(`http://127.0.0.1:${httpPort}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Connect', params: {} }),
    });
    const body = (await answer.json()) as { result?: { address?: string } };
    assert.equal(body.result?.address, `127.0.0.1:${httpPort}`);

    grid.child.kill('SIGTERM');
    assert.equal(await grid.exited, 0);
  } finally {
    grid.child.kill('SIGKILL');
  }
});

test('when the answer has no public_address either, it stops with exit 1 and says so', async () => {
  const grid = startGrid();
  try {
    assert.equal(await grid.exited, 1);
    assert.match(grid.output(), /neither config\.toml nor the supervisor's answer sets public_address/);
  } finally {
    grid.child.kill('SIGKILL');
  }
});
