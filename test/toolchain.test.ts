import assert from 'node:assert/strict';
import { test } from 'node:test';

// The project pins Node 24 for its scripts (devDependency `node`); npm test must run on it,
// because type stripping of .ts files and the engines we target depend on it.
test('npm scripts run on the pinned Node 24', () => {
  assert.equal(process.versions.node.split('.')[0], '24');
});
