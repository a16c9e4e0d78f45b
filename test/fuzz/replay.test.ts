/**
 * Every committed fuzz input replays through its target on each `npm test`, without Jazzer.js:
 * the seed corpus (`fuzz/corpus/<target>/`) and the inputs of past findings
 * (`fuzz/regressions/<target>/`, each kept with its fix). A target throws on a crash or a
 * broken invariant, so a regression fails here with the input's file name.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inputFiles, loadTarget, replay } from '../../fuzz/replay.ts';
import { FUZZ_TARGETS } from '../../fuzz/targets/index.ts';

const fuzzDir = fileURLToPath(new URL('../../fuzz/', import.meta.url));

describe('fuzz corpus and regressions replay', () => {
  for (const { name } of FUZZ_TARGETS) {
    test(`${name}: every seed and past finding passes`, async () => {
      const seeds = inputFiles([`${fuzzDir}corpus/${name}`]);
      assert.ok(seeds.length > 0, `fuzz/corpus/${name}/ has seeds`);
      const regressions = `${fuzzDir}regressions/${name}`;
      const files = [...seeds, ...(existsSync(regressions) ? inputFiles([regressions]) : [])];
      const target = await loadTarget(name);
      try {
        const failures = await replay(target, files);
        assert.deepEqual(
          failures.map(([file, error]) => `${file}: ${(error as Error)?.stack ?? error}`),
          [],
        );
      } finally {
        await target.dispose?.();
      }
    });
  }
});
