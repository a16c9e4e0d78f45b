import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  accessKeyToJwk,
  generateAccessKey,
  publicJwk,
  signToken,
  TokenVerifier,
} from '../../common/auth/index.ts';
import { parseReportResult } from '../../common/gateway/protocol.ts';
import { OperatorMetrics } from '../../operator/controller/health.ts';
import { SupervisorServer } from '../../operator/supervisor/server.ts';
import { parseConfigText, renderConfigToml } from '../../server/config/index.ts';

const accessKey = generateAccessKey();
const masterKey = new Uint8Array(32).fill(9);
let leader = true;
let now = Date.now();
let randomValue = 0;
const supervisor = new SupervisorServer({
  host: '127.0.0.1',
  isLeader: () => leader,
  now: () => now,
  random: () => randomValue,
});
let base = '';

before(async () => {
  base = `http://127.0.0.1:${await supervisor.listen()}`;
  const fleet = supervisor.fleet('games', 'voice');
  fleet.update(
    {
      credentials: { password: 'pw', masterKey, accessKeys: [publicJwk(accessKeyToJwk(accessKey))] },
      pods: ['p1', 'p2'],
    },
    now,
  );
});
after(() => supervisor.close());

async function rpc(path: string, method: string, params: unknown, auth: string) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { result?: Record<string, unknown>; error?: { message: string } },
  };
}
const basic = (pw: string) => `Basic ${Buffer.from(`odin:${pw}`).toString('base64')}`;
const localConfig = (port: number) =>
  renderConfigToml(
    parseConfigText(
      `public_address = "127.0.0.1"\n[http]\nbinding = "127.0.0.1:${port}"\n[supervisor]\nurl = "http://x/"\n`,
    ),
  );
const report = (pod: string, port: number, load: number, rooms: [string, number][] = []) =>
  rpc(
    `/internal/games/voice/${pod}`,
    'sfu.Report',
    {
      public_endpoint: `127.0.0.1:${port}`,
      server: 'grid',
      version: '1',
      load,
      clients: rooms.length,
      rooms: rooms.map(([id, peers]) => ({ id: ['', id], customer: '', age: { secs: 1, nanos: 0 }, peers })),
    },
    basic('pw'),
  );

test('sfu.GridConfig: the merged config carries the derived per-server key and loads in the server', async () => {
  const { status, body } = await rpc(
    '/internal/games/voice/p1',
    'sfu.GridConfig',
    { server: 'grid', version: '1', config: localConfig(5001) },
    basic('pw'),
  );
  assert.equal(status, 200, JSON.stringify(body));
  const config = parseConfigText(String(body.result!.config));
  assert.equal(config.authorization.keys.length, 1);
  assert.ok(config.authorization.keys[0]!.d, 'the server can sign with it');
  assert.match(config.authorization.keys[0]!.kid, /^A[g-v]/, 'kid prefix 0x02 (server key)');
  assert.equal(config.http?.ping_interval, 5000);
});

test('wrong credentials: 401; a follower answers 503', async () => {
  assert.equal((await report('p1', 5001, 0.1)).status, 200);
  assert.equal((await rpc('/internal/games/voice/p1', 'sfu.Report', {}, basic('nope'))).status, 401);
  leader = false;
  assert.equal((await report('p1', 5001, 0.1)).status, 503);
  leader = true;
});

test('Connect: places a new room weighted by 1 - load, never on a draining server; rooms are sticky', async () => {
  await report('p1', 5001, 0.2);
  await report('p2', 5002, 0.2);
  const token = await signToken(accessKey, { rid: 'lobby', uid: 'alice' }, { audience: 'gateway' });
  const connect = (t: string) => rpc('/games/voice', 'Connect', {}, `Bearer ${t}`);
  randomValue = 0.99;
  const first = await connect(token);
  assert.equal(first.body.result?.address, '127.0.0.1:5002', JSON.stringify(first.body));
  randomValue = 0;
  assert.equal((await connect(token)).body.result?.address, '127.0.0.1:5002', 'sticky before any report');
  // The answer's token is for the server: its derived key verifies it.
  const fleet = supervisor.fleet('games', 'voice');
  const verified = await new TokenVerifier({
    keys: [fleet.servers.get('p2')!.key],
    allowUnsigned: false,
    leewayMs: 0,
  }).verify(String(first.body.result?.token));
  assert.equal(verified.address, '127.0.0.1:5002');
  assert.deepEqual(verified.roomIds, ['lobby']);

  fleet.update({ draining: ['p1'] }, now);
  const other = await signToken(accessKey, { rid: 'other', uid: 'bob' });
  randomValue = 0;
  assert.equal((await connect(other)).body.result?.address, '127.0.0.1:5002', 'not on the draining p1');
  fleet.update({ draining: ['p1', 'p2'] }, now);
  const third = await signToken(accessKey, { rid: 'third', uid: 'carol' });
  assert.equal((await connect(third)).status, 503);
  fleet.update({ draining: [] }, now);
  // A room reported by p1 goes to p1 even when p1 is draining: the conversation is there.
  await report('p1', 5001, 0.3, [['busy', 2]]);
  fleet.update({ draining: ['p1'] }, now);
  const busy = await signToken(accessKey, { rid: 'busy', uid: 'dave' });
  assert.equal((await connect(busy)).body.result?.address, '127.0.0.1:5001');
  fleet.update({ draining: [] }, now);
});

test('admin calls queue tasks the hosting server gets in its next report answer', async () => {
  const admin = await signToken(accessKey, { rid: 'busy', uid: 'admin', sub: 'roomclose' });
  const queued = await rpc('/games/voice', 'RoomClose', { ban_time: 10 }, `Bearer ${admin}`);
  assert.equal(queued.status, 200, JSON.stringify(queued.body));
  const notAllowed = await signToken(accessKey, { rid: 'busy', uid: 'admin', sub: 'roomupdate' });
  assert.equal((await rpc('/games/voice', 'RoomClose', {}, `Bearer ${notAllowed}`)).status, 401);
  const answer = await report('p1', 5001, 0.3, [['busy', 2]]);
  const { tasks, problems } = parseReportResult(answer.body.result);
  assert.deepEqual(problems, []);
  assert.deepEqual(tasks, [{ task: 'RoomClose', id: ['', 'busy'], banMs: 10_000 }]);
  const again = parseReportResult((await report('p1', 5001, 0.3)).body.result);
  assert.equal(again.tasks.length, 0, 'a task is delivered once');
});

test('a silent server takes no new rooms', async () => {
  now += 8_000;
  await report('p1', 5001, 0.5);
  const token = await signToken(accessKey, { rid: 'late', uid: 'erin' });
  randomValue = 0.99;
  const res = await rpc('/games/voice', 'Connect', {}, `Bearer ${token}`);
  assert.equal(res.body.result?.address, '127.0.0.1:5001');
});

test('odin_operator_supervised_servers counts the servers heard from within 7.5 s, at scrape time', async () => {
  // p1 has just reported; p2 has been silent for 8 s (previous test).
  assert.equal(supervisor.reportingServers(), 1);
  const metrics = new OperatorMetrics();
  metrics.countSupervisedServers = () => supervisor.reportingServers();
  assert.match(await metrics.registry.metrics(), /^odin_operator_supervised_servers 1$/m);
  now += 8_000;
  assert.match(await metrics.registry.metrics(), /^odin_operator_supervised_servers 0$/m);
});
