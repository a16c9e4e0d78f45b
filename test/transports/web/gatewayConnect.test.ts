/**
 * The gateway `Connect` call a standalone server answers itself (ODIN-PROTOCOL.md sections 2
 * and 5), over real HTTPS: what the 0.16 web SDK's `initRoom(token, gatewayUrl)` relies on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gatewayConnect } from '../../../client/gateway.ts';
import { OdinClient } from '../../../client/odinClient.ts';
import { generateAccessKey, signToken } from '../../../common/auth/index.ts';
import { httpsRequest, jsonRpc, tokenClaims } from '../../helpers/http.ts';
import { startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';

type JsonRpcError = { code: number; message: string };

describe('gateway Connect on the [http] listener', () => {
  let grid: TestGrid;

  before(async () => {
    grid = await startTestGrid();
  });
  after(() => grid.close());

  test('answers {address, token}: the bound address and the same token when it is usable for joining', async () => {
    const token = await grid.token('lobby', 'alice');
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.deepEqual(answer.json, { jsonrpc: '2.0', id: 7, result: { address: grid.address, token } });
    assert.notEqual(grid.webListener.port, 0);
    assert.equal(grid.webListener.publicAddress, grid.address, 'port 0 resolved to the bound port');
  });

  test('a token for aud "sfu" is answered as it is', async () => {
    const token = await grid.token('lobby', 'alice', { audience: 'sfu' });
    const result = await gatewayConnect(grid.gatewayUrl, token, { ca: grid.ca });
    assert.equal(result.token, token);
  });

  test('a gateway-audience token is re-issued for the sfu, with adr, and the new token joins', async () => {
    const token = await grid.token(['lobby', 'hall'], 'alice', {
      audience: 'gateway',
      claims: { cid: 'acme' },
    });
    const result = await gatewayConnect(grid.gatewayUrl, token, { ca: grid.ca });
    assert.equal(result.address, grid.address);
    assert.notEqual(result.token, token);
    const claims = tokenClaims(result.token);
    assert.equal(claims.aud, 'sfu');
    assert.equal(claims.adr, grid.address);
    assert.equal(claims.uid, 'alice');
    assert.deepEqual(claims.rid, ['lobby', 'hall']);
    assert.equal(claims.cid, 'acme');
    assert.equal(claims.sub, 'connect');

    const client = await OdinClient.connect(result.address, result.token, { ca: grid.ca, voice: false });
    grid.track(() => client.close());
    assert.deepEqual(client.roomIds, ['lobby', 'hall']);
    const room = await client.joinRoom('hall');
    assert.equal(room.joined.room.customer, 'acme');
    await client.close();
  });

  test('a gateway-only token cannot be used to join directly', async () => {
    const token = await grid.token('lobby', 'alice', { audience: 'gateway' });
    await assert.rejects(
      OdinClient.connect(grid.address, token, { ca: grid.ca, voice: false }),
      /token rejected/,
    );
  });

  test('answers the CORS preflight the web SDK sends from a page', async () => {
    const answer = await httpsRequest(grid.gatewayUrl, {
      ca: grid.ca,
      method: 'OPTIONS',
      headers: {
        origin: 'https://game.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(answer.status, 204);
    assert.equal(answer.headers['access-control-allow-origin'], '*');
    const allowed = String(answer.headers['access-control-allow-headers']).toLowerCase();
    assert.match(allowed, /authorization/);
    assert.match(allowed, /content-type/);
    assert.match(String(answer.headers['access-control-allow-methods']), /POST/);
  });

  test('CORS headers are on answers too, errors included, so a page can read them', async () => {
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca });
    assert.equal(answer.headers['access-control-allow-origin'], '*');
  });

  test('a missing bearer token: 401 with a JSON-RPC error saying what to send', async () => {
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca });
    assert.equal(answer.status, 401);
    const error = answer.json.error as JsonRpcError;
    assert.equal(answer.json.id, 7);
    assert.equal(error.code, -32000);
    assert.match(error.message, /Authorization: Bearer/);
  });

  test('a malformed bearer token: 401 naming why', async () => {
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token: 'not-a-token' });
    assert.equal(answer.status, 401);
    assert.match((answer.json.error as JsonRpcError).message, /^invalid token/);
  });

  test('a token signed by an unknown key: 401', async () => {
    const stranger = await signToken(generateAccessKey(), { rid: 'lobby', uid: 'mallory' });
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token: stranger });
    assert.equal(answer.status, 401);
    assert.match((answer.json.error as JsonRpcError).message, /invalid token/);
  });

  test('a token whose sub does not allow connect (an admin token): refused naming sub', async () => {
    const token = await grid.token('lobby', 'admin', { claims: { sub: 'roomclose' } });
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token });
    assert.equal(answer.status, 401, 'the verifier refuses it like any token it does not accept');
    assert.match((answer.json.error as JsonRpcError).message, /sub does not allow/);
  });

  test('an unknown method: JSON-RPC "method not found" naming it', async () => {
    const token = await grid.token('lobby', 'alice');
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token, method: 'Disconnect' });
    const error = answer.json.error as JsonRpcError;
    assert.equal(error.code, -32601);
    assert.match(error.message, /"Disconnect"/);
  });

  test('a body that is not JSON: parse error', async () => {
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, body: '{"jsonrpc":' });
    assert.equal(answer.status, 400);
    assert.equal((answer.json.error as JsonRpcError).code, -32700);
  });

  test('JSON that is not a request object: invalid request', async () => {
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, body: '[1,2]' });
    assert.equal(answer.status, 400);
    assert.equal((answer.json.error as JsonRpcError).code, -32600);
  });

  test('an oversized body is refused with 413 and the server keeps answering', async () => {
    const token = await grid.token('lobby', 'alice');
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'Connect',
      params: { pad: 'x'.repeat(64 * 1024) },
    });
    const answer = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token, body });
    assert.equal(answer.status, 413);
    assert.match((answer.json.error as JsonRpcError).message, /larger than/);
    const next = await gatewayConnect(grid.gatewayUrl, token, { ca: grid.ca });
    assert.equal(next.address, grid.address);
  });

  test('other paths and methods are 404', async () => {
    assert.equal((await httpsRequest(`${grid.gatewayUrl}nope`, { ca: grid.ca })).status, 404);
    assert.equal((await httpsRequest(grid.gatewayUrl, { ca: grid.ca, method: 'GET' })).status, 404);
    const post = await httpsRequest(`${grid.gatewayUrl}internal`, {
      ca: grid.ca,
      method: 'POST',
      body: '{}',
    });
    assert.equal(post.status, 404);
  });

  test('no error was logged', () => {
    assert.deepEqual(grid.logs.errors, []);
  });
});
