import assert from 'node:assert/strict';
import { request } from 'node:http';
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
import { PodAuthenticator } from '../../operator/supervisor/podIdentity.ts';
import { MAX_CONNECT_BODY, SupervisorServer } from '../../operator/supervisor/server.ts';
import { parseConfigText, renderConfigToml } from '../../server/config/index.ts';
import { AUDIENCE, FakeTokenIssuer } from './podTokens.ts';

const accessKey = generateAccessKey();
const masterKey = new Uint8Array(32).fill(9);
let leader = true;
let now = Date.now();
let randomValue = 0;
const issuer = new FakeTokenIssuer();
const supervisor = new SupervisorServer({
  internal: { host: '127.0.0.1', port: 0 },
  connect: { host: '127.0.0.1', port: 0 },
  isLeader: () => leader,
  pods: new PodAuthenticator({ review: issuer.review, audience: AUDIENCE }),
  now: () => now,
  random: () => randomValue,
});
let base = '';
let connectBase = '';
const tokens: Record<string, string> = {};

before(async () => {
  const ports = await supervisor.listen();
  base = `http://127.0.0.1:${ports.internal}`;
  connectBase = `http://127.0.0.1:${ports.connect}`;
  const fleet = supervisor.fleet('games', 'voice');
  fleet.update(
    {
      credentials: { masterKey, accessKeys: [publicJwk(accessKeyToJwk(accessKey))] },
      pods: ['p1', 'p2'],
      // The endpoints the operator computed from the Pod objects (host IP + the http binding port).
      members: new Map([
        ['p1', { uid: 'uid-p1', address: '127.0.0.1', endpoint: '127.0.0.1:5001' }],
        ['p2', { uid: 'uid-p2', address: '127.0.0.2', endpoint: '127.0.0.2:5001' }],
      ]),
    },
    now,
  );
  tokens.p1 = issuer.issue('games', 'p1', 'uid-p1');
  tokens.p2 = issuer.issue('games', 'p2', 'uid-p2');
});
after(() => supervisor.close());

async function rpc(path: string, method: string, params: unknown, auth: string, at = base) {
  const res = await fetch(`${at}${path}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { result?: Record<string, unknown>; error?: { message: string } },
  };
}
const bearer = (t: string) => `Bearer ${t}`;
const localConfig = (port: number) =>
  renderConfigToml(
    parseConfigText(
      `public_address = "127.0.0.1"\n[http]\nbinding = "127.0.0.1:${port}"\n[supervisor]\nurl = "http://x/"\n`,
    ),
  );
const report = (pod: string, load: number, rooms: [string, number][] = [], endpoint?: string) =>
  rpc(
    `/internal/games/voice/${pod}`,
    'sfu.Report',
    {
      ...(endpoint ? { public_endpoint: endpoint } : {}),
      server: 'grid',
      version: '1',
      load,
      clients: rooms.length,
      rooms: rooms.map(([id, peers]) => ({ id: ['', id], customer: '', age: { secs: 1, nanos: 0 }, peers })),
    },
    bearer(tokens[pod]!),
  );
const connect = (t: string, params: unknown = {}) =>
  rpc('/games/voice', 'Connect', params, bearer(t), connectBase);

test('sfu.GridConfig: the merged config carries the key derived for the endpoint from the Pod objects', async () => {
  const { status, body } = await rpc(
    '/internal/games/voice/p2',
    'sfu.GridConfig',
    { server: 'grid', version: '1', config: localConfig(5001) },
    bearer(tokens.p2!),
  );
  assert.equal(status, 200, JSON.stringify(body));
  const config = parseConfigText(String(body.result!.config));
  // The address is the operator's (p2 is at 127.0.0.2), not the 127.0.0.1 the pod's config said.
  assert.equal(config.public_address, '127.0.0.2');
  assert.equal(config.authorization.keys.length, 1);
  assert.ok(config.authorization.keys[0]!.d, 'the server can sign with it');
  assert.match(config.authorization.keys[0]!.kid, /^A[g-v]/, 'kid prefix 0x02 (server key)');
  assert.equal(config.http?.ping_interval, 5000);
  assert.equal(supervisor.fleet('games', 'voice').servers.get('p2')?.endpoint, '127.0.0.2:5001');
  // A config announcing another port (or address) than the pod is reached at is refused.
  const other = await rpc(
    '/internal/games/voice/p2',
    'sfu.GridConfig',
    { server: 'grid', version: '1', config: localConfig(6000) },
    bearer(tokens.p2!),
  );
  assert.match(
    other.body.error?.message ?? '',
    /announces 127\.0\.0\.2:6000, but pod p2 is reached at 127\.0\.0\.2:5001/,
  );
});

test("each pod authenticates as itself: another pod's URL, a foreign fleet, a stale uid, Basic auth: 401", async () => {
  assert.equal((await report('p1', 0.1)).status, 200);
  const asOther = await rpc('/internal/games/voice/p2', 'sfu.Report', {}, bearer(tokens.p1!));
  assert.equal(asOther.status, 401);
  assert.match(asOther.body.error?.message ?? '', /not bound to the pod of the URL/);
  // The same pod name under a fleet it does not belong to.
  const elsewhere = issuer.issue('games', 'intruder', 'uid-x');
  assert.equal(
    (await rpc('/internal/games/voice/intruder', 'sfu.Report', {}, bearer(elsewhere))).status,
    401,
  );
  // A pod recreated under the same name has a new uid: the old pod's token no longer counts.
  const stale = issuer.issue('games', 'p1', 'uid-old');
  assert.equal((await rpc('/internal/games/voice/p1', 'sfu.Report', {}, bearer(stale))).status, 401);
  // A token for another audience, a revoked token, the shared password of old: refused.
  const wrongAudience = issuer.issue('games', 'p1', 'uid-p1', { audience: 'https://kubernetes.default.svc' });
  assert.equal((await rpc('/internal/games/voice/p1', 'sfu.Report', {}, bearer(wrongAudience))).status, 401);
  const revoked = issuer.issue('games', 'p1', 'uid-p1');
  issuer.revoked.add(revoked);
  assert.equal((await rpc('/internal/games/voice/p1', 'sfu.Report', {}, bearer(revoked))).status, 401);
  const basic = `Basic ${Buffer.from('odin:pw').toString('base64')}`;
  assert.equal((await rpc('/internal/games/voice/p1', 'sfu.Report', {}, basic)).status, 401);
  // Garbage never costs a TokenReview; a good token is reviewed once, then cached.
  const before = issuer.reviews;
  await rpc('/internal/games/voice/p1', 'sfu.Report', {}, bearer('not.a.token'));
  await report('p1', 0.1);
  assert.equal(issuer.reviews, before);
  leader = false;
  assert.equal((await report('p1', 0.1)).status, 503);
  leader = true;
});

test('a report naming a foreign public_endpoint changes nothing: rooms go to the endpoint from the objects', async () => {
  // p1 claims p2's address: the supervisor keeps p1 at its own.
  assert.equal((await report('p1', 0.2, [], '127.0.0.2:5001')).status, 200);
  assert.equal(supervisor.fleet('games', 'voice').servers.get('p1')?.endpoint, '127.0.0.1:5001');
});

test('Connect: places a new room weighted by 1 - load, never on a draining server; rooms are sticky', async () => {
  supervisor.fleet('games', 'voice').servers.clear(); // candidates in the order p1, p2
  await report('p1', 0.2);
  await report('p2', 0.2);
  const token = await signToken(accessKey, { rid: 'lobby', uid: 'alice' }, { audience: 'gateway' });
  randomValue = 0.99;
  const first = await connect(token);
  assert.equal(first.body.result?.address, '127.0.0.2:5001', JSON.stringify(first.body));
  randomValue = 0;
  assert.equal((await connect(token)).body.result?.address, '127.0.0.2:5001', 'sticky before any report');
  // The answer's token is for the server: its derived key verifies it.
  const fleet = supervisor.fleet('games', 'voice');
  const verified = await new TokenVerifier({
    keys: [fleet.servers.get('p2')!.key],
    allowUnsigned: false,
    leewayMs: 0,
  }).verify(String(first.body.result?.token));
  assert.equal(verified.address, '127.0.0.2:5001');
  assert.deepEqual(verified.roomIds, ['lobby']);

  fleet.update({ draining: ['p1'] }, now);
  const other = await signToken(accessKey, { rid: 'other', uid: 'bob' });
  randomValue = 0;
  assert.equal((await connect(other)).body.result?.address, '127.0.0.2:5001', 'not on the draining p1');
  fleet.update({ draining: ['p1', 'p2'] }, now);
  const third = await signToken(accessKey, { rid: 'third', uid: 'carol' });
  assert.equal((await connect(third)).status, 503);
  fleet.update({ draining: [] }, now);
  // A room reported by p1 goes to p1 even when p1 is draining: the conversation is there.
  await report('p1', 0.3, [['busy', 2]]);
  fleet.update({ draining: ['p1'] }, now);
  const busy = await signToken(accessKey, { rid: 'busy', uid: 'dave' });
  assert.equal((await connect(busy)).body.result?.address, '127.0.0.1:5001');
  fleet.update({ draining: [] }, now);
});

test('admin calls queue tasks the hosting server gets in its next report answer', async () => {
  const admin = await signToken(accessKey, { rid: 'busy', uid: 'admin', sub: 'roomclose' });
  const queued = await rpc('/games/voice', 'RoomClose', { ban_time: 10 }, bearer(admin), connectBase);
  assert.equal(queued.status, 200, JSON.stringify(queued.body));
  const notAllowed = await signToken(accessKey, { rid: 'busy', uid: 'admin', sub: 'roomupdate' });
  assert.equal((await rpc('/games/voice', 'RoomClose', {}, bearer(notAllowed), connectBase)).status, 401);
  const answer = await report('p1', 0.3, [['busy', 2]]);
  const { tasks, problems } = parseReportResult(answer.body.result);
  assert.deepEqual(problems, []);
  assert.deepEqual(tasks, [{ task: 'RoomClose', id: ['', 'busy'], banMs: 10_000 }]);
  const again = parseReportResult((await report('p1', 0.3)).body.result);
  assert.equal(again.tasks.length, 0, 'a task is delivered once');
});

test('a silent server takes no new rooms', async () => {
  now += 8_000;
  await report('p1', 0.5);
  const token = await signToken(accessKey, { rid: 'late', uid: 'erin' });
  randomValue = 0.99;
  const res = await connect(token);
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

/** A raw request: headers now, the body only when asked; resolves with the status and whether the server closed. */
function rawRequest(
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, closed: res.headers.connection === 'close' }),
      );
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.flushHeaders(); // the declared body never comes
  });
}

test('credentials are checked from the headers: an unauthenticated body is never waited for or read', async () => {
  // The body never comes: a server that waited for it could only answer 408 at its request
  // timeout, so a 401 is the proof (no stopwatch, which a busy machine could outlast).
  const headers = { 'content-type': 'application/json', 'content-length': String(1 << 20) };
  const internal = await rawRequest(`${base}/internal/games/voice/p1`, headers);
  assert.deepEqual(internal, { status: 401, closed: true });
  const pub = await rawRequest(`${connectBase}/games/voice`, { ...headers, authorization: 'Bearer x.y.z' });
  assert.deepEqual(pub, { status: 401, closed: true });
});

test('bodies are capped per endpoint: a Connect body above the cap is 413, even with a good token', async () => {
  const token = await signToken(accessKey, { rid: 'big', uid: 'u' }, { audience: 'gateway' });
  const big = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'Connect',
    params: { pad: 'x'.repeat(MAX_CONNECT_BODY) },
  });
  const res = await rawRequest(
    `${connectBase}/games/voice`,
    {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-length': String(big.length),
    },
    big,
  );
  assert.equal(res.status, 413);
});

test('a malformed path is 400; each listener serves only its own endpoints', async () => {
  const token = await signToken(accessKey, { rid: 'r', uid: 'u' }, { audience: 'gateway' });
  assert.equal((await rpc('/games/%E0', 'Connect', {}, bearer(token), connectBase)).status, 400);
  assert.equal((await rpc('/internal/games/voice/%E0', 'sfu.Report', {}, bearer(tokens.p1!))).status, 400);
  assert.equal(
    (await rpc('/games/voice', 'Connect', {}, bearer(token), base)).status,
    404,
    'no Connect on the internal port',
  );
  assert.equal(
    (await rpc('/internal/games/voice/p1', 'sfu.Report', {}, bearer(tokens.p1!), connectBase)).status,
    404,
    'no sfu.* on the public port',
  );
});

test('an unknown OdinServer and a wrong key get the same 401: names cannot be probed', async () => {
  const foreign = await signToken(generateAccessKey(), { rid: 'r', uid: 'u' }, { audience: 'gateway' });
  const unknown = await connectWith('/games/nothing-here', foreign);
  const wrongKey = await connectWith('/games/voice', foreign);
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown, wrongKey);
  const own = await signToken(accessKey, { rid: 'r', uid: 'u' }, { audience: 'gateway' });
  assert.deepEqual(await connectWith('/games/nothing-here', own), wrongKey);
});
const connectWith = async (path: string, token: string) => {
  const r = await rpc(path, 'Connect', {}, bearer(token), connectBase);
  return { status: r.status, message: r.body.error?.message };
};

test('an admin token whose exp is not a number is refused (it used to skip the expiry check)', async () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const jwk = accessKeyToJwk(accessKey);
  const { signEd25519 } = await import('../../common/auth/index.ts');
  const header = b64({ alg: 'EdDSA', kid: jwk.kid });
  const forge = (exp: unknown) => {
    const payload = b64({ rid: 'busy', uid: 'admin', sub: 'roomclose', exp });
    const sig = Buffer.from(
      signEd25519(Buffer.from(jwk.d!, 'base64url'), new TextEncoder().encode(`${header}.${payload}`)),
    ).toString('base64url');
    return `${header}.${payload}.${sig}`;
  };
  const res = await rpc('/games/voice', 'RoomClose', {}, bearer(forge('1')), connectBase);
  assert.equal(res.status, 401);
  assert.match(res.body.error?.message ?? '', /exp must be a number/);
  const expired = await rpc('/games/voice', 'RoomClose', {}, bearer(forge(1)), connectBase);
  assert.match(expired.body.error?.message ?? '', /expired/);
});
