/**
 * A native client of a `grid` process that crashes and is restarted with the same key
 * material: the restarted server answers the client's next packet with a stateless reset
 * (RFC 9000 section 10.3), so the client learns that its connection is gone at once instead of
 * after its 30 s idle timeout, and reconnects to the new process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { OdinQuicClient } from '../../../client/quic/odinQuicClient.ts';
import { accessKeyToJwk, generateAccessKey, signToken } from '../../../common/auth/index.ts';
import { createDevCertificate } from '../../../server/dev/certificate.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually } from '../../helpers/testGrid.ts';
import { freeUdpPort } from './helpers.ts';

const gridMain = fileURLToPath(new URL('../../../server/main.ts', import.meta.url));
const accessKey = generateAccessKey();
let dir = '';
let configFile = '';
let port = 0;
const children: ChildProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grid-quic-restart-'));
  const certificate = await createDevCertificate(['127.0.0.1', 'localhost']);
  await writeFile(join(dir, 'cert.pem'), certificate.certificatePem);
  await writeFile(join(dir, 'key.pem'), certificate.privateKeyPem, { mode: 0o600 });
  port = await freeUdpPort();
  configFile = join(dir, 'config.toml');
  await writeFile(
    configFile,
    stringify({
      public_address: '127.0.0.1',
      authorization: { keys: [accessKeyToJwk(accessKey)] },
      quic: {
        binding: `127.0.0.1:${port}`,
        certificate_file: join(dir, 'cert.pem'),
        privatekey_file: join(dir, 'key.pem'),
      },
      log: { terminal: { format: 'json' } },
    }),
  );
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Starts `grid` on the config and resolves once its [quic] listener is listening. */
async function startGrid(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [gridMain, '--config', configFile], {
    cwd: dir,
    env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GRID_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  await eventually(
    () => {
      if (exited) throw new Error(`grid exited while starting:\n${output}`);
      return /"msg":"listening"/.test(output) && output.includes('quic udp');
    },
    'grid to listen on [quic]',
    30_000,
  );
  return child;
}

async function crash(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test(
  'after a crash and restart the native client is told by a stateless reset, far sooner than its idle timeout',
  needsNativeAddon,
  async () => {
    const first = await startGrid();
    const client = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port,
      insecure: true,
      // Far beyond the wait cap: the connection can end only by the stateless reset.
      idleTimeoutMs: 600_000,
    });
    const token = () => signToken(accessKey, { rid: 'lobby', uid: 'alice' });
    try {
      await client.joinRoom(await token(), 'lobby');
      await crash(first);
      await startGrid();
      // The client's next packet reaches the new process, which has no state for its connection.
      const ping = client.main.request('Ping', {});
      await eventually(() => client.closeInfo !== undefined, 'the client to see its connection end');
      await assert.rejects(ping);
      assert.equal(client.closeInfo!.reason, 'stateless reset');
      assert.equal(client.quic!.endpoint.stats.statelessResetsReceived, 1);
    } finally {
      await client.close().catch(() => {});
    }
    // The restarted server serves a reconnect.
    const again = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    try {
      const room = await again.joinRoom(await token(), 'lobby');
      assert.ok(room.joined);
    } finally {
      await again.close().catch(() => {});
    }
  },
);
