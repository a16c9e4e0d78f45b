import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyLocator } from '../../server/config/locate.ts';

const TOML = `# comment with [brackets] and key = "value"
title = """
multi [not.a.table]
line"""
a.b.c = 1 # dotted
"quoted.key" = 2

[server]
port = 1
nested = { x = 1, y = { z = [1, { w = 2 }] } }
list = [
  "one", # comment inside
  'two',
]

[[items]]
name = "first"

[[items]]
name = "second"
[items.sub]
deep = true
`;

const locator = new KeyLocator(TOML);
const at = (...path: (string | number)[]) => {
  const p = locator.locate(path);
  return p && [p.line, p.column];
};

test('keys, dotted keys and quoted keys are located', () => {
  assert.deepEqual(at('title'), [2, 1]);
  assert.deepEqual(at('a', 'b', 'c'), [5, 5]);
  assert.deepEqual(at('quoted.key'), [6, 1]);
});

test('tables and keys inside inline tables and arrays are located', () => {
  assert.deepEqual(at('server'), [8, 1]);
  assert.deepEqual(at('server', 'port'), [9, 1]);
  assert.deepEqual(at('server', 'nested', 'y', 'z', 1, 'w'), [10, 35]);
  assert.deepEqual(at('server', 'list', 1), [13, 3]);
});

test('the n-th array of tables and sub-tables of the last one are located', () => {
  assert.deepEqual(at('items', 0, 'name'), [17, 1]);
  assert.deepEqual(at('items', 1, 'name'), [20, 1]);
  assert.deepEqual(at('items', 1, 'sub', 'deep'), [22, 1]);
});

test('an unknown path falls back to its closest located ancestor', () => {
  assert.deepEqual(at('server', 'missing'), [8, 1]);
  assert.equal(at('nowhere'), undefined);
  assert.equal(locator.has(['server', 'missing']), false);
});
