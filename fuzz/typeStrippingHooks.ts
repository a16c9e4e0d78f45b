/**
 * Loader hooks (run in the loader thread) that let Jazzer.js fuzz our TypeScript sources:
 * - `load`: Jazzer's ESM loader instruments only `format: "module"` sources and Node reports
 *   `.ts` files as `module-typescript`, so we hand it the type-stripped JavaScript;
 * - `resolve`: Jazzer appends `.js` to a fuzz target path that does not end in `.js`
 *   (core/dist/utils.js ensureFilepath), so `target.ts.js` resolves to `target.ts`.
 */
import { type LoadHook, type ResolveHook, stripTypeScriptTypes } from 'node:module';

export const resolve: ResolveHook = (specifier, context, nextResolve) =>
  nextResolve(specifier.endsWith('.ts.js') ? specifier.slice(0, -3) : specifier, context);

export const load: LoadHook = async (url, context, nextLoad) => {
  const result = await nextLoad(url, context);
  if (result.format !== 'module-typescript' || result.source === undefined) return result;
  // `strip` mode blanks the types in place, so line and column numbers stay those of the file.
  const source = stripTypeScriptTypes(String(result.source), { mode: 'strip' });
  return { format: 'module', source, shortCircuit: true };
};
