import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configEnvVars, configReferenceMarkdown } from '../../server/config/index.ts';

const docPath = new URL('../../docs/configuration.md', import.meta.url);

test('docs/configuration.md is generated from the schema and not stale (npm run docs)', () => {
  assert.equal(readFileSync(docPath, 'utf8'), configReferenceMarkdown(), 'run: npm run docs');
});

test('the reference documents every key, its variable and the env rule', () => {
  const doc = configReferenceMarkdown();
  for (const [name, { path, node }] of configEnvVars) {
    if (name.startsWith('GRID_PROVISIONING_')) continue; // covered by the alias sentence
    if (node.type === 'object' && node.properties && path.length <= 2) continue; // whole sections: the rule
    assert.ok(doc.includes(`\`${name}\``), name);
  }
  for (const s of [
    'GRID_QUIC_PORT',
    'GRID_CONFIG',
    '[[authorization.keys]]',
    '## [limit.peer]',
    'ODIN Grid extension',
  ]) {
    assert.ok(doc.includes(s), s);
  }
});

test('docs.ts --check passes on the committed file', () => {
  const out = execFileSync(process.execPath, ['server/config/docs.ts', '--check'], {
    cwd: new URL('../..', import.meta.url),
    encoding: 'utf8',
  });
  assert.match(out, /up to date/);
});
