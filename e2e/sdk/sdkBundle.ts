/**
 * The page's script: `page/harness.js` with the real `@4players/odin` 0.16.0 from node_modules,
 * bundled by esbuild into one classic script (the SDK's ESM build imports bare specifiers,
 * `tslib` and `msgpackr`, and extensionless relative paths, which a browser cannot load as is).
 * Nothing of the SDK is changed: esbuild only links its modules together.
 */
import { join } from 'node:path';
import { build } from 'esbuild';

const harness = join(import.meta.dirname, 'page', 'harness.js');

/** Builds the bundle in memory (about 0.2 s); returns the script text. */
export async function buildHarnessBundle(): Promise<string> {
  const result = await build({
    entryPoints: [harness],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced no output for ${harness}`);
  return output.text;
}
