import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BenchUsageError, parseBenchArgs } from '../../bench/args.ts';

test('defaults: quic, 10 rooms of 5 with 2 speakers at 50 packets/s, started server', () => {
  const o = parseBenchArgs([]);
  assert.equal(o.transport, 'quic');
  assert.deepEqual([o.rooms, o.peers, o.speakers, o.rate, o.payload], [10, 5, 2, 50, 60]);
  assert.equal(o.target, undefined);
  assert.equal(o.json, false);
  assert.equal(o.progress, true);
});

test('every load option is read', () => {
  const o = parseBenchArgs(
    [
      '--transport',
      'mix',
      '--rooms',
      '3',
      '--peers',
      '8',
      '--speakers',
      '0',
      '--rate',
      '25',
      '--duration',
      '1.5',
    ].concat(['--join-rate', '10', '--workers', '2', '--align', '--json', '--no-progress']),
  );
  assert.deepEqual(
    [
      o.transport,
      o.rooms,
      o.peers,
      o.speakers,
      o.rate,
      o.duration,
      o.joinRate,
      o.workers,
      o.align,
      o.json,
      o.progress,
    ],
    ['mix', 3, 8, 0, 25, 1.5, 10, 2, true, true, false],
  );
});

test('a running server needs an access key, from the flag or the environment', () => {
  assert.throws(() => parseBenchArgs(['--quic', '127.0.0.1:4433']), /--access-key/);
  const o = parseBenchArgs(['--quic', '127.0.0.1:4433'], { BENCH_ACCESS_KEY: 'k' });
  assert.deepEqual(o.target, {
    accessKey: 'k',
    quic: '127.0.0.1:4433',
    web: undefined,
    udp: undefined,
    metrics: undefined,
  });
});

test('the transport must have its address when targeting a running server', () => {
  assert.throws(
    () => parseBenchArgs(['--transport', 'web', '--quic', '127.0.0.1:1', '--access-key', 'k']),
    /--transport web against a running server needs --web/,
  );
  assert.throws(
    () => parseBenchArgs(['--transport', 'mix', '--quic', '127.0.0.1:1', '--access-key', 'k']),
    /needs --web and --quic/,
  );
});

test('bad values name the flag and what is accepted', () => {
  const cases: [string[], RegExp][] = [
    [['--rooms', '0'], /--rooms "0": expected a whole number > 0/],
    [['--rooms', '2.5'], /--rooms "2.5"/],
    [['--transport', 'tcp'], /expected one of quic, web, web-tcp, mix, udp/],
    [['--peers', '2', '--speakers', '3'], /more speakers than --peers 2/],
    [['--payload', '8'], /must be >= 16/],
    [['--quic', 'nowhere'], /expected HOST:PORT/],
    [['--server-cpus', 'zero'], /taskset CPU list/],
    [['--unknown'], /Unknown option/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseBenchArgs(argv),
      (error: unknown) => error instanceof BenchUsageError && message.test(error.message),
    );
  }
});
