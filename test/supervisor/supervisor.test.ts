import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { parseConfigText } from '../../server/config/index.ts';
import { createLogger, silentLogger } from '../../server/observability/log.ts';
import {
  awaitSupervisedConfig,
  computeLoad,
  fetchSupervisedConfig,
  JsonRpcClient,
  SupervisorError,
  SupervisorReporter,
} from '../../server/supervisor/index.ts';
import { bytes, Harness } from '../core/helpers.ts';
import { waitFor } from '../helpers/waitFor.ts';
import { FakeGateway } from './fakeGateway.ts';

const localConfig = (url: string) =>
  parseConfigText(`public_address = "grid-0.example.com:4433"\n[supervisor]\nurl = "${url}"\n`);

const gateway = new FakeGateway();
before(() => gateway.start());
after(() => gateway.stop());
beforeEach(() => {
  gateway.calls.length = 0;
  gateway.tasks.length = 0;
  gateway.failWith = undefined;
  gateway.configAnswer = undefined;
  gateway.credentials = undefined;
});

function reporter(h: Harness, options: { warmUp?: boolean; onGone?: () => void; url?: string } = {}) {
  return new SupervisorReporter({
    // Most tests here count cycles from the first interval: warm up unless told otherwise.
    config: { report_interval: 5000, no_warmup: options.warmUp ?? true },
    client: new JsonRpcClient({ url: options.url ?? gateway.url, timeoutMs: 30_000 }),
    sfu: h.sfu,
    load: () =>
      computeLoad({
        clients: h.sfu.clientCount,
        peers: h.sfu.peerCount,
        rooms: 0,
        cpu: 0,
        draining: h.sfu.draining,
      }),
    version: '9.9.9',
    publicEndpoint: 'grid-0.example.com:4433',
    logger: silentLogger(),
    onGone: options.onGone ?? (() => {}),
    clock: h.clock,
    roomClock: () => h.clock.now(),
  });
}

describe('sfu.GridConfig', () => {
  test('sends the own config as TOML and runs with the merged answer, which brings the key', async () => {
    const config = localConfig(gateway.url);
    assert.equal(config.authorization.keys.length, 0);
    const merged = await fetchSupervisedConfig({
      client: new JsonRpcClient({ url: gateway.url, timeoutMs: 30_000 }),
      config,
      version: '1.2.3',
    });
    const [call] = gateway.callsOf('sfu.GridConfig');
    assert.deepEqual(
      { ...call!.params, config: undefined },
      { public_endpoint: 'grid-0.example.com:4433', server: 'grid', version: '1.2.3', config: undefined },
    );
    assert.deepEqual(parseConfigText(String(call!.params.config)), config, 'the TOML is the own config');
    assert.deepEqual(merged.authorization.keys, [FakeGateway.keyFor('grid-0.example.com:4433')]);
    assert.equal(merged.limit.peer.incoming_messages.overflow, 20);
    assert.equal(merged.public_address, 'grid-0.example.com:4433', 'local values win');
  });

  test('token_file: its token goes as Bearer, read again for every call (it rotates)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grid-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'first.token.value\n');
    const client = new JsonRpcClient({ url: gateway.url, timeoutMs: 2000, tokenFile: file });
    await client.call('sfu.Report', {});
    writeFileSync(file, 'second.token.value');
    await client.call('sfu.Report', {});
    assert.deepEqual(
      gateway.calls.map((c) => c.authorization),
      ['Bearer first.token.value', 'Bearer second.token.value'],
    );
    // Missing or empty: an error naming the file, retried like an unreachable supervisor.
    rmSync(file);
    const missing = (await client.call('sfu.Report', {}).catch((e: unknown) => e)) as SupervisorError;
    assert.equal(missing.code, 'network');
    assert.match(missing.message, /cannot read the token file ".*token"/);
    writeFileSync(file, '\n');
    const empty = (await client.call('sfu.Report', {}).catch((e: unknown) => e)) as SupervisorError;
    assert.match(empty.message, /holds no token/);
    assert.equal(gateway.calls.length, 2, 'nothing sent without a token');
    rmSync(dir, { recursive: true });
  });

  test('token_file and credentials in the url together are refused at load', () => {
    assert.throws(
      () =>
        parseConfigText(
          'public_address = "x"\n[supervisor]\nurl = "http://a:b@gw/internal"\ntoken_file = "/t"\n',
        ),
      /supervisor\.token_file.*give one of them/s,
    );
    const ok = parseConfigText(
      'public_address = "x"\n[supervisor]\nurl = "http://gw/internal"\ntoken_file = "/t"\n',
    );
    assert.equal(ok.supervisor?.token_file, '/t');
  });

  test('an answer that is not a valid config is an error naming the problem, not a fallback', async () => {
    gateway.configAnswer = 'public_address = "x"\n[limit]\nmax_peers = -1\n';
    const client = new JsonRpcClient({ url: gateway.url, timeoutMs: 30_000 });
    await assert.rejects(
      fetchSupervisedConfig({ client, config: localConfig(gateway.url), version: '1' }),
      (e) => {
        assert.ok(e instanceof SupervisorError);
        assert.equal(e.code, 'bad_config');
        assert.match(e.message, /sfu\.GridConfig answer.*limit\.max_peers/s);
        return true;
      },
    );
  });

  test('credentials in the URL go as HTTP Basic auth, never in the request URL or the logs', async () => {
    gateway.credentials = 'grid:s3cr3t p@ss';
    const url = gateway.urlWith('grid:s3cr3t%20p%40ss');
    const lines = new PassThrough();
    let logged = '';
    lines.on('data', (chunk: Buffer) => {
      logged += chunk.toString();
    });
    const merged = await fetchSupervisedConfig({
      client: new JsonRpcClient({ url, timeoutMs: 30_000 }),
      config: localConfig(url),
      version: '1',
    });
    assert.equal(merged.authorization.keys.length, 1);
    assert.equal(
      gateway.calls[0]!.authorization,
      `Basic ${Buffer.from('grid:s3cr3t p@ss').toString('base64')}`,
    );
    // Wrong credentials: 401, and the error shows the URL redacted.
    const wrong = new JsonRpcClient({ url: gateway.urlWith('grid:wrong'), timeoutMs: 30_000 });
    const error = (await wrong.call('sfu.Report', {}).catch((e: unknown) => e)) as SupervisorError;
    assert.equal(error.code, 'http');
    assert.match(error.message, /HTTP 401 \(check the credentials/);
    assert.doesNotMatch(error.message, /wrong/);
    assert.match(error.message, /grid:<redacted>@/);
    const h = new Harness();
    const logger = createLogger({ verbosity: 0, format: 'json', filters: [], destination: lines });
    gateway.failWith = 500;
    const r = new SupervisorReporter({
      config: { report_interval: 5000, no_warmup: false },
      client: new JsonRpcClient({ url, timeoutMs: 30_000 }),
      sfu: h.sfu,
      load: () => 0,
      version: '1',
      publicEndpoint: 'x:1',
      logger,
      onGone: () => {},
      clock: h.clock,
    });
    await r.reportNow();
    assert.match(logged, /sfu\.Report failed/);
    assert.doesNotMatch(logged, /s3cr3t/);
  });

  test('an unreachable supervisor is retried with backoff; a wrong answer fails at once', async () => {
    gateway.failWith = 503;
    const waits: number[] = [];
    let now = 0;
    const attempt = awaitSupervisedConfig({
      client: new JsonRpcClient({ url: gateway.url, timeoutMs: 30_000 }),
      config: localConfig(gateway.url),
      version: '1',
      now: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
        if (waits.length === 3) gateway.failWith = undefined;
      },
    });
    assert.equal((await attempt).authorization.keys.length, 1);
    assert.deepEqual(waits, [1000, 2000, 4000]);
    gateway.configAnswer = 'not toml [';
    await assert.rejects(
      awaitSupervisedConfig({
        client: new JsonRpcClient({ url: gateway.url, timeoutMs: 30_000 }),
        config: localConfig(gateway.url),
        version: '1',
        sleep: async () => assert.fail('must not retry'),
      }),
      (e) => e instanceof SupervisorError && e.code === 'bad_config',
    );
  });
});

describe('sfu.Report', () => {
  test('reports load, clients and every room {id: [namespace, room_id], customer, age, peers}', async () => {
    const h = new Harness();
    h.join('alice', 'lobby');
    h.clock.advance(1500.25);
    h.join('bob', 'lobby');
    h.client({ userId: 'carol', roomIds: ['arena'], namespace: 'ns1', customerId: 'acme' });
    const carol = h.client({ userId: 'carol', roomIds: ['arena'], namespace: 'ns1', customerId: 'acme' });
    h.joinWith(carol, 'arena');
    await reporter(h).reportNow();
    const [call] = gateway.callsOf('sfu.Report');
    assert.deepEqual(call!.params, {
      public_endpoint: 'grid-0.example.com:4433',
      server: 'grid',
      version: '9.9.9',
      load: 0,
      clients: 4,
      rooms: [
        { id: ['', 'lobby'], customer: 'customer-1', age: { secs: 1, nanos: 500_250_000 }, peers: 2 },
        { id: ['ns1', 'arena'], customer: 'acme', age: { secs: 0, nanos: 0 }, peers: 1 },
      ],
    });
  });

  test('no_warmup = true waits one report_interval before the first report; false reports at once', async () => {
    const h = new Harness();
    const warm = reporter(h, { warmUp: true });
    warm.start();
    h.clock.advance(4999);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(gateway.callsOf('sfu.Report').length, 0);
    h.clock.advance(1);
    await waitFor(() => gateway.callsOf('sfu.Report').length === 1);
    warm.stop();
    const eager = reporter(h, { warmUp: false });
    eager.start();
    h.clock.advance(0);
    await waitFor(() => gateway.callsOf('sfu.Report').length === 2);
    eager.stop();
  });

  test('a draining server reports load 1', async () => {
    const h = new Harness();
    h.sfu.setDraining(true);
    await reporter(h).reportNow();
    assert.equal(gateway.callsOf('sfu.Report')[0]!.params.load, 1);
  });

  test('stops (once) after 300 s of failed reports, not before; a success in between resets the clock', async () => {
    const h = new Harness();
    let gone = 0;
    const r = reporter(h, { onGone: () => gone++ });
    gateway.failWith = 500;
    await r.reportNow(); // fails at t0
    h.clock.advance(200_000);
    await r.reportNow();
    gateway.failWith = undefined;
    await r.reportNow(); // success: the streak ends
    gateway.failWith = 500;
    h.clock.advance(10_000);
    await r.reportNow(); // a new streak starts here
    h.clock.advance(299_999);
    await r.reportNow();
    assert.equal(gone, 0);
    assert.equal(r.failuresInRow, 2);
    h.clock.advance(1);
    await r.reportNow();
    assert.equal(gone, 1);
    await r.reportNow();
    assert.equal(gone, 1);
    assert.deepEqual(r.stats, { successes: 1, failures: 6 });
  });

  test('while the supervisor is down the next attempt backs off: 5, 10, 20, 30, 30 s', async () => {
    const h = new Harness();
    gateway.failWith = 500;
    const r = reporter(h, { warmUp: false });
    r.start();
    const at: number[] = [];
    for (const step of [0, 5000, 10_000, 20_000, 30_000, 30_000]) {
      const before = gateway.calls.length;
      h.clock.advance(step - 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (step > 0) assert.equal(gateway.calls.length, before, `no attempt before ${step} ms`);
      h.clock.advance(1);
      await waitFor(() => gateway.calls.length === before + 1 && r.failuresInRow === before + 1);
      at.push(h.clock.now());
    }
    r.stop();
    assert.equal(at.length, 6);
  });
});

describe('tasks', () => {
  test('RoomClose: Left {RoomClosing}, and rejoining is refused until the ban ends', async () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby');
    gateway.tasks.push({ task: 'RoomClose', id: ['', 'lobby'], ban_time: { secs: 10, nanos: 0 } });
    await reporter(h).reportNow();
    assert.deepEqual(alice.events(), ['Left RoomClosing']);
    assert.equal(h.sfu.peerCount, 0);
    assert.throws(() => h.join('alice', 'lobby'), /closed for now/);
    h.clock.advance(10_000);
    h.join('alice', 'lobby');
  });

  test('RoomUpdate: the room user data changes for every peer', async () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby');
    gateway.tasks.push({ task: 'RoomUpdate', id: ['', 'lobby'], user_data: [1, 2, 3] });
    await reporter(h).reportNow();
    assert.deepEqual(alice.events(), ['RoomUserDataChanged']);
    assert.deepEqual(h.sfu.getRoom('', 'lobby')!.userData, new Uint8Array([1, 2, 3]));
  });

  test('RoomBanClient: every peer of the user gets Left {PeerKicked}; the user is refused until the ban ends', async () => {
    const h = new Harness();
    const mallory = h.join('mallory', 'lobby');
    const mallory2 = h.join('mallory', 'lobby');
    const bob = h.join('bob', 'lobby');
    for (const peer of [mallory, mallory2, bob]) peer.stream.clear();
    gateway.tasks.push({
      task: 'RoomBanClient',
      id: ['', 'lobby'],
      user_id: 'mallory',
      ban_time: { secs: 5, nanos: 0 },
    });
    await reporter(h).reportNow();
    assert.deepEqual(mallory.events(), ['Left PeerKicked']);
    assert.deepEqual(mallory2.events(), [`PeerLeft ${mallory.peerId}`, 'Left PeerKicked']);
    assert.deepEqual(bob.events(), [`PeerLeft ${mallory.peerId}`, `PeerLeft ${mallory2.peerId}`]);
    assert.throws(() => h.join('mallory', 'lobby'), /banned/);
    h.join('bob', 'lobby');
    h.clock.advance(5000);
    h.join('mallory', 'lobby');
  });

  test('RoomSendMessage: the user gets MessageReceived from peer id 0', async () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby');
    const bob = h.join('bob', 'lobby');
    alice.stream.clear();
    gateway.tasks.push({
      task: 'RoomSendMessage',
      id: ['', 'lobby'],
      user_id: 'bob',
      message: [...bytes('hi')],
    });
    await reporter(h).reportNow();
    assert.deepEqual(bob.events(), ['Message from 0']);
    const message = bob.stream.notifications('MessageReceived')[0]![1];
    assert.deepEqual(message.message, bytes('hi'));
    assert.deepEqual(alice.events(), []);
  });

  test('a malformed task is skipped; the others run and the report counts as a success', async () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby');
    gateway.tasks.push(
      { task: 'Explode', id: ['', 'lobby'] },
      { task: 'RoomUpdate', id: 'lobby', user_data: [] },
    );
    gateway.tasks.push({ task: 'RoomClose', id: ['', 'lobby'], ban_time: { secs: 0, nanos: 0 } });
    const r = reporter(h);
    await r.reportNow();
    assert.deepEqual(alice.events(), ['Left RoomClosing']);
    assert.deepEqual(r.stats, { successes: 1, failures: 0 });
  });
});
