import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { defaultTelemetryConfig, type TelemetryConfig } from '../../server/config/index.ts';
import { silentLogger } from '../../server/observability/log.ts';
import { TELEMETRY_SCHEMA, Telemetry } from '../../server/telemetry/index.ts';
import { FakeClock } from '../core/helpers.ts';
import { waitFor } from '../helpers/waitFor.ts';

const received: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[] = [];
let status = 204;
const server = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => {
    body += chunk.toString();
  });
  request.on('end', () => {
    received.push({ headers: request.headers, body: JSON.parse(body) as Record<string, unknown> });
    response.writeHead(status).end();
  });
});
before(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
const address = () => `http://acct:pw@127.0.0.1:${(server.address() as AddressInfo).port}/telemetry`;

function telemetry(
  clock: FakeClock,
  onFailing: () => void,
  max: number | null = 3,
  data: TelemetryConfig['data'] = defaultTelemetryConfig.data,
) {
  return new Telemetry({
    config: {
      ...defaultTelemetryConfig,
      address: address(),
      interval: 60_000,
      ...(max === null ? {} : { max_consecutive_failures: max }),
      data,
    },
    license: {
      licensee: 'ACME',
      issuer: 'ODIN Grid',
      serialNumber: 'L-1',
      validUntil: new Date('2030-01-01T00:00:00Z'),
    },
    version: '1.2.3',
    publicAddress: 'grid-0.example.com:4433',
    usage: () => ({ clients: 3, peers: 2, rooms: 1, medias: 1, voice_packets_in: 10, voice_packets_out: 20 }),
    logger: silentLogger(),
    onFailing,
    clock,
    wallClock: () => Date.parse('2026-05-01T12:00:00Z'),
  });
}

describe('telemetry', () => {
  test('POSTs the documented record with every licence field (data absent) and usage, with Basic auth', async () => {
    received.length = 0;
    status = 204;
    const clock = new FakeClock();
    const t = telemetry(clock, () => assert.fail('not failing'));
    clock.advance(90_000);
    assert.equal(await t.sendNow(), true);
    assert.equal(received[0]!.headers.authorization, `Basic ${Buffer.from('acct:pw').toString('base64')}`);
    assert.deepEqual(received[0]!.body, {
      schema: TELEMETRY_SCHEMA,
      server: 'grid',
      version: '1.2.3',
      public_address: 'grid-0.example.com:4433',
      timestamp: '2026-05-01T12:00:00.000Z',
      uptime_seconds: 90,
      sequence: 1,
      license: {
        licensee: 'ACME',
        issuer: 'ODIN Grid',
        serial_number: 'L-1',
        valid_until: '2030-01-01T00:00:00.000Z',
      },
      usage: { clients: 3, peers: 2, rooms: 1, medias: 1, voice_packets_in: 10, voice_packets_out: 20 },
    });
    assert.equal(t.record().sequence, 2);
  });

  test('[telemetry] data picks exactly the listed licence fields; [] sends none of them', () => {
    const clock = new FakeClock();
    const two = telemetry(clock, () => {}, 3, ['LicenseSerialNumber', 'LicenseValidUntil']);
    assert.deepEqual(two.record().license, { serial_number: 'L-1', valid_until: '2030-01-01T00:00:00.000Z' });
    const none = telemetry(clock, () => {}, 3, []);
    assert.deepEqual(none.record().license, {});
  });

  test('a licence field the licence leaves out is sent as null', () => {
    const t = new Telemetry({
      config: { ...defaultTelemetryConfig, address: address(), data: ['LicenseValidUntil', 'LicenseIssuer'] },
      license: { licensee: 'ACME' },
      version: '1',
      publicAddress: 'a:1',
      usage: () => ({ clients: 0, peers: 0, rooms: 0, medias: 0, voice_packets_in: 0, voice_packets_out: 0 }),
      logger: silentLogger(),
      onFailing: () => {},
      clock: new FakeClock(),
    });
    assert.deepEqual(t.record().license, { valid_until: null, issuer: null });
  });

  test('without max_consecutive_failures, failures never stop the server', async () => {
    status = 500;
    const t = telemetry(new FakeClock(), () => assert.fail('must not stop'), null);
    for (let i = 0; i < 20; i++) assert.equal(await t.sendNow(), false);
    assert.equal(t.failuresInRow, 20);
  });

  test('sends at start and every interval', async () => {
    received.length = 0;
    status = 200;
    const clock = new FakeClock();
    const t = telemetry(clock, () => {});
    t.start();
    clock.advance(0);
    await waitFor(() => received.length === 1);
    // The next send is armed once the first one's answer is read, which can come after the
    // collector saw the request (on a loaded machine, well after): advancing the clock before
    // that would pass the moment the timer is later set for.
    await waitFor(() => clock.pendingTimers === 1);
    clock.advance(60_000);
    await waitFor(() => received.length === 2);
    t.stop();
  });

  test('after max_consecutive_failures failures in a row it calls onFailing once; a success resets the count', async () => {
    status = 500;
    const clock = new FakeClock();
    let failing = 0;
    const t = telemetry(clock, () => failing++);
    assert.equal(await t.sendNow(), false);
    assert.equal(await t.sendNow(), false);
    status = 200;
    assert.equal(await t.sendNow(), true);
    assert.equal(t.failuresInRow, 0);
    status = 503;
    await t.sendNow();
    await t.sendNow();
    assert.equal(failing, 0);
    await t.sendNow();
    assert.equal(failing, 1);
    await t.sendNow();
    assert.equal(failing, 1);
    assert.deepEqual(t.stats, { successes: 1, failures: 6 });
  });
});
