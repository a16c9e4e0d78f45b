import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger, type LogOptions, levelForVerbosity } from '../../server/observability/log.ts';

function capture(options: Omit<LogOptions, 'destination'>) {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const logger = createLogger({ ...options, destination: stream });
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

test('verbosity 0..3 maps to info, debug, trace, trace', () => {
  assert.deepEqual([0, 1, 2, 3].map(levelForVerbosity), ['info', 'debug', 'trace', 'trace']);
});

test('json format writes one JSON object per line at the configured level', () => {
  const { logger, lines } = capture({ verbosity: 0, format: 'json', filters: [] });
  logger.debug('hidden at verbosity 0');
  logger.info({ room: 'lobby' }, 'room created');
  const out = lines().map((line) => JSON.parse(line));
  assert.equal(out.length, 1);
  assert.equal(out[0].msg, 'room created');
  assert.equal(out[0].room, 'lobby');
});

test('secrets are redacted wherever they appear in a log object', () => {
  const { logger, lines } = capture({ verbosity: 0, format: 'json', filters: [] });
  logger.info({ token: 'eyJhbGciOi.secret', key: { kid: 'Afkwfu4BVHDh', d: 'private-seed' } }, 'join');
  const text = lines().join('\n');
  assert.doesNotMatch(text, /eyJhbGciOi|private-seed/);
  assert.match(text, /Afkwfu4BVHDh/);
});

test("a module=error filter keeps only that module's errors; others log at the verbosity level", () => {
  const { logger, lines } = capture({ verbosity: 1, format: 'json', filters: ['webrtc=error'] });
  logger.module('webrtc').info('ice state');
  logger.module('webrtc').error('dtls failed');
  logger.module('core').debug('room created');
  assert.deepEqual(
    lines().map((line) => JSON.parse(line).msg),
    ['dtls failed', 'room created'],
  );
});

test('a bare module name keeps only its errors, as the ODIN example configs write filters', () => {
  const { logger, lines } = capture({ verbosity: 1, format: 'json', filters: ['webrtc', 'webrtc_ice'] });
  logger.module('webrtc').warn('ice restart');
  logger.module('webrtc').error('dtls failed');
  logger.module('core').debug('room created');
  assert.deepEqual(
    lines().map((line) => JSON.parse(line).msg),
    ['dtls failed', 'room created'],
  );
});

test('a module filter can also raise a module above the verbosity level, and off silences it', () => {
  const { logger, lines } = capture({
    verbosity: 0,
    format: 'json',
    filters: ['quic=debug', 'supervisor=off'],
  });
  logger.module('quic').debug('packet');
  logger.module('supervisor').error('unreachable');
  logger.module('core').debug('hidden');
  assert.deepEqual(
    lines().map((line) => JSON.parse(line).msg),
    ['packet'],
  );
});

test('a bare level filter replaces the level verbosity gives', () => {
  const { logger, lines } = capture({ verbosity: 2, format: 'json', filters: ['warn'] });
  logger.info('hidden');
  logger.warn('shown');
  assert.deepEqual(
    lines().map((line) => JSON.parse(line).msg),
    ['shown'],
  );
});

test('format none writes nothing', () => {
  const { logger, lines } = capture({ verbosity: 2, format: 'none', filters: [] });
  logger.error('not shown');
  assert.equal(lines().length, 0);
});

test('text format is human-readable, not JSON', () => {
  const { logger, lines } = capture({ verbosity: 0, format: 'text', filters: [] });
  logger.info({ room: 'lobby' }, 'room created');
  const out = lines().join('\n');
  assert.match(out, /INFO.*room created/);
  assert.throws(() => JSON.parse(lines()[0] ?? ''));
});
