import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chosenSemiSpaceMb,
  GRID_MAX_SEMI_SPACE_MB,
  heapFlagsToAdd,
  isServerCommand,
} from '../../server/cli/heapFlags.ts';

test('grid adds its semi-space cap only when the operator chose none', () => {
  assert.deepEqual(heapFlagsToAdd([], undefined), [`--max-semi-space-size=${GRID_MAX_SEMI_SPACE_MB}`]);
  assert.deepEqual(heapFlagsToAdd([], '--max-old-space-size=400'), [
    `--max-semi-space-size=${GRID_MAX_SEMI_SPACE_MB}`,
  ]);
  assert.deepEqual(heapFlagsToAdd([], '--max-semi-space-size=16'), []);
  assert.deepEqual(heapFlagsToAdd(['--max_semi_space_size=1'], undefined), []);
});

test('the command line wins over NODE_OPTIONS, as in Node; 0 stands for V8 default', () => {
  assert.equal(chosenSemiSpaceMb(['--max-semi-space-size=4'], '--max-semi-space-size=16'), 4);
  assert.equal(chosenSemiSpaceMb([], '--expose-gc --max-semi-space-size 16'), 16);
  assert.equal(chosenSemiSpaceMb([], '--max-semi-space-size=0'), 0);
  assert.equal(chosenSemiSpaceMb(['--expose-gc'], undefined), undefined);
});

test('only the server command re-executes; check, keys, token, --help and --version do not', () => {
  assert.equal(isServerCommand([]), true);
  assert.equal(isServerCommand(['--config', 'config.toml']), true);
  for (const args of [['check'], ['keys', 'new'], ['--help'], ['-V'], ['--version']])
    assert.equal(isServerCommand(args), false, args.join(' '));
});
