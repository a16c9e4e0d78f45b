/**
 * Reads the imports of a TypeScript module: `import … from`, `import '…'`, `export … from`,
 * `import type …` and `import('…')`, each with its line and whether it is type-only.
 *
 * Hand-written because the TypeScript we pin (7, the native compiler) has no stable JS parser
 * API, and esbuild drops type-only imports, which are dependencies all the same. Comments,
 * strings, template literals and regular expression literals are blanked first, so an
 * "import" inside them is not read; architecture.test.ts checks the result against esbuild's
 * own list of value imports, so a form this scanner misses fails the test instead of hiding.
 */

export type ImportRef = {
  /** The module specifier as written: `./core/sfu.ts`, `node:fs`, `ws`. */
  specifier: string;
  /** 1-based line of the specifier. */
  line: number;
  /** `import type`, `export type`: erased at run time, a dependency all the same. */
  typeOnly: boolean;
};

/**
 * The source with comments and the insides of strings, templates and regex literals replaced
 * by spaces (newlines kept, so offsets and lines stay). String quotes are kept, and so is the
 * text of single- and double-quoted strings, since module specifiers are such strings.
 */
export function blankNonCode(source: string): string {
  const out = source.split('');
  const blank = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (out[i] !== '\n') out[i] = ' ';
  };
  // Braces opened inside `${…}` of a template: where a `}` resumes the template.
  const templateDepths: number[] = [];
  let depth = 0;
  let lastSignificant = '';
  let i = 0;
  const n = source.length;
  const scanTemplate = (start: number): number => {
    // From just after a backtick or a `}` closing `${`: to the closing backtick or a `${`.
    let j = start;
    while (j < n) {
      const c = source[j];
      if (c === '\\') j += 2;
      else if (c === '`') {
        blank(start, j);
        return j + 1;
      } else if (c === '$' && source[j + 1] === '{') {
        blank(start, j);
        templateDepths.push(depth);
        depth++;
        return j + 2;
      } else j++;
    }
    blank(start, n);
    return n;
  };
  while (i < n) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < n && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      i = j + 1;
      lastSignificant = c;
    } else if (c === '`') {
      i = scanTemplate(i + 1);
      lastSignificant = '`';
    } else if (c === '/' && (lastSignificant === '' || '(,=:[!&|?{};+-*%<>~^'.includes(lastSignificant))) {
      // A regular expression literal: a `/` where an expression starts (not a division).
      let j = i + 1;
      let inClass = false;
      while (j < n && source[j] !== '\n') {
        const d = source[j];
        if (d === '\\') j++;
        else if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        j++;
      }
      blank(i + 1, j);
      i = j + 1;
      lastSignificant = '/';
    } else {
      if (c === '{') depth++;
      else if (c === '}') {
        depth--;
        if (templateDepths.length > 0 && templateDepths[templateDepths.length - 1] === depth) {
          templateDepths.pop();
          i = scanTemplate(i + 1);
          lastSignificant = '`';
          continue;
        }
      }
      if (!/\s/.test(c)) lastSignificant = /[\w$]/.test(c) ? 'a' : c;
      // `return /x/` and `typeof /x/`: a keyword before a regex literal.
      if (lastSignificant === 'a' && /[\w$]/.test(c)) {
        const word = /[\w$]+$/.exec(source.slice(Math.max(0, i - 10), i + 1))?.[0];
        if (word === 'return' || word === 'typeof' || word === 'case' || word === 'in' || word === 'of')
          lastSignificant = '(';
      }
      i++;
    }
  }
  return out.join('');
}

const importPattern = new RegExp(
  [
    // import x from '…', import { a, type b } from '…', import type { T } from '…', import * as x from '…'
    // export { a } from '…', export type { T } from '…', export * from '…', export * as x from '…'
    String.raw`\b(import|export)(\s+type)?\s+(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?)?\s*from\s*(['"])([^'"\n]+)\3`,
    // import x from '…' (a default import alone is covered above); import '…' (side effects)
    String.raw`\bimport\s*(['"])([^'"\n]+)\5`,
    // import('…')
    String.raw`\bimport\s*\(\s*(['"])([^'"\n]+)\7\s*[,)]`,
  ].join('|'),
  'g',
);

/** Every import of `source`, in order. */
export function readImports(source: string): ImportRef[] {
  const code = blankNonCode(source);
  const refs: ImportRef[] = [];
  for (const match of code.matchAll(importPattern)) {
    const specifier = match[4] ?? match[6] ?? match[8]!;
    const at = match.index + match[0].lastIndexOf(specifier);
    const line = code.slice(0, at).split('\n').length;
    refs.push({ specifier, line, typeOnly: match[2] !== undefined });
  }
  return refs;
}
