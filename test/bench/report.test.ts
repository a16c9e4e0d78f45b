import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarizeProfile } from '../../bench/profileSummary.ts';
import { fmtBytes, fmtInt, fmtMs, formatTable, perPeer } from '../../bench/report.ts';

test('numbers for people', () => {
  assert.equal(fmtInt(53507.4), '53,507');
  assert.equal(fmtInt(undefined), '-');
  assert.equal(fmtMs(1.234), '1.23');
  assert.equal(fmtMs(45.67), '45.7');
  assert.equal(fmtMs(Number.NaN), '-');
  assert.equal(fmtBytes(100 * 1024), '100.0 KB');
  assert.equal(fmtBytes(3 * 1024 * 1024), '3.0 MB');
});

test('memory per peer is the RSS growth over the peers', () => {
  assert.equal(perPeer(100, 1100, 10), 100);
  assert.equal(perPeer(undefined, 1100, 10), undefined);
  assert.equal(perPeer(100, 1100, 0), undefined);
});

test('tables align their values; an empty label is a heading', () => {
  assert.equal(
    formatTable([
      ['', 'title'],
      ['a', '1'],
      ['long', '2'],
    ]),
    'title\n  a     1\n  long  2',
  );
});

test('profile self time is shared over busy samples only', () => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
  const { byFunction, byFile } = summarizeProfile({
    nodes: [
      { id: 1, callFrame: frame('(idle)') },
      { id: 2, callFrame: frame('recv', 'file:///x/server/transports/quic/endpoint.ts') },
      { id: 3, callFrame: frame('doSend', 'node:dgram') },
    ],
    samples: [1, 1, 2, 2, 2, 3],
    timeDeltas: [10, 10, 10, 10, 10, 10],
  });
  assert.deepEqual(byFunction[0], { name: 'recv server/transports/quic/endpoint.ts:1', share: 0.75 });
  assert.deepEqual(byFile[1], { name: 'node:dgram', share: 0.25 });
});
