import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHostPort, splitBinding } from '../../server/config/index.ts';

test('a binding splits into the host and port that listen() takes, IPv6 without brackets', () => {
  assert.deepEqual(splitBinding('0.0.0.0:4433'), { host: '0.0.0.0', port: 4433 });
  assert.deepEqual(splitBinding('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(splitBinding('localhost:0'), { host: 'localhost', port: 0 });
  assert.throws(() => splitBinding('localhost'), /not a binding "host:port": "localhost"/);
});

test('formatHostPort brackets IPv6 only, so the result splits back', () => {
  assert.equal(formatHostPort('::1', 4433), '[::1]:4433');
  assert.equal(formatHostPort('127.0.0.1', 4433), '127.0.0.1:4433');
  assert.deepEqual(splitBinding(formatHostPort('::1', 4433)), { host: '::1', port: 4433 });
});
