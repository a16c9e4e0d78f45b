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
import { FUZZ_TARGETS, INSTRUMENTED_FOLDERS } from '../../fuzz/targets/index.ts';

const fuzzDir = fileURLToPath(new URL('../../fuzz/', import.meta.url));
const repoDir = fileURLToPath(new URL('../../', import.meta.url));

describe('fuzz targets cover what they name', () => {
  // A subject that moved, or lies outside the instrumented folders, leaves the fuzzer without
  // coverage feedback on it: it still runs, but blind (0 edges), and nothing else says so.
  for (const { name, subjects } of FUZZ_TARGETS) {
    test(`${name}: every subject exists in an instrumented folder`, () => {
      for (const subject of subjects) {
        assert.ok(existsSync(`${repoDir}${subject}`), `${name}: subject ${subject} exists`);
        assert.ok(
          INSTRUMENTED_FOLDERS.some((folder) => subject.startsWith(`${folder}/`)),
          `${name}: subject ${subject} lies in an instrumented folder (${INSTRUMENTED_FOLDERS.join(', ')})`,
        );
      }
    });
  }
});

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
