/**
 * Runs fuzz inputs through a target without Jazzer.js: `node fuzz/replay.ts <target> <file|dir>...`.
 * Prints each input's outcome; exits 1 when one throws (the stack shows where). The same
 * function drives test/fuzz/replay.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type FuzzTarget = { fuzz(data: Buffer): void | Promise<void>; dispose?: () => Promise<void> };

export function loadTarget(name: string): Promise<FuzzTarget> {
  return import(new URL(`./targets/${name}.ts`, import.meta.url).href) as Promise<FuzzTarget>;
}

/** Every file under `paths` (directories one level deep), sorted. */
export function inputFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      for (const name of readdirSync(path).sort()) files.push(join(path, name));
    } else if (statSync(path, { throwIfNoEntry: false })?.isFile()) {
      files.push(path);
    }
  }
  return files;
}

/** Runs every file through the target; returns the failures as [file, error]. */
export async function replay(target: FuzzTarget, files: readonly string[]): Promise<[string, unknown][]> {
  const failures: [string, unknown][] = [];
  for (const file of files) {
    try {
      await target.fuzz(readFileSync(file));
    } catch (error) {
      failures.push([file, error]);
    }
  }
  return failures;
}

if (import.meta.main) {
  const [name, ...paths] = process.argv.slice(2);
  if (name === undefined || paths.length === 0) {
    console.error('usage: node fuzz/replay.ts <target> <file|dir>...');
    process.exit(2);
  }
  const target = await loadTarget(name);
  const files = inputFiles(paths);
  const failures = await replay(target, files);
  for (const [file, error] of failures) console.error(`${file}:`, error);
  console.log(`${files.length - failures.length} of ${files.length} inputs passed`);
  await target.dispose?.();
  process.exitCode = failures.length > 0 ? 1 : 0;
}
