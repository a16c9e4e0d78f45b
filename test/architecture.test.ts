/**
 * The layering of docs/architecture.md, kept by reading every import of the product code
 * (common/, server/, operator/, client/, bench/). The rules are parsed from the page itself,
 * so the page and this test cannot disagree: change a rule there, and this test follows.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type ImportRef, readImports } from './architecture/imports.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const docPath = 'docs/architecture.md';

type Module = { name: string; mayImport: Set<string>; packages: Set<string> };
type Doc = { modules: Map<string, Module>; knownBreaks: Set<string>; knownCircles: Set<string> };

/** The backticked names of a table cell: "`a`, `b`" → [a, b]; "—" → []. */
function names(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The text between `## heading` and the next `## `. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start !== -1, `${docPath} has no "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end === -1 ? undefined : end);
}

function parseDoc(): Doc {
  const text = readFileSync(join(repo, docPath), 'utf8');
  const modules = new Map<string, Module>();
  for (const line of section(text, 'The rules').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | `module` | `a`, `b` | `pkg` | why |
    if (cells.length < 5 || !cells[1]!.startsWith('`')) continue;
    const [name] = names(cells[1]!);
    assert.ok(name !== undefined && !modules.has(name), `${docPath}: module ${name} is listed twice`);
    modules.set(name, { name, mayImport: new Set(names(cells[2]!)), packages: new Set(names(cells[3]!)) });
  }
  assert.ok(modules.size > 10, `${docPath}: the rules table was not found`);
  const knownBreaks = new Set<string>();
  const knownCircles = new Set<string>();
  for (const line of section(text, 'Known breaks').split('\n')) {
    const edge = /^- `([^`]+)` → `([^`]+)`/.exec(line);
    if (edge) knownBreaks.add(`${edge[1]} → ${edge[2]}`);
    if (line.startsWith('- circle: ')) knownCircles.add(names(line).sort().join(' ↔ '));
  }
  return { modules, knownBreaks, knownCircles };
}

const doc = parseDoc();
const roots = [...new Set([...doc.modules.keys()].map((name) => name.split('/')[0]!))];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const files = roots.flatMap(sourceFiles).sort();

/** The module a file belongs to: the longest listed folder (or the file itself) holding it. */
function moduleOf(file: string): Module | undefined {
  let best: Module | undefined;
  for (const module of doc.modules.values()) {
    const holds = file === module.name || file.startsWith(`${module.name}/`);
    if (holds && (best === undefined || module.name.length > best.name.length)) best = module;
  }
  return best;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

type Edge = { from: string; to: string; ref: ImportRef };

const imports = new Map<string, ImportRef[]>();
for (const file of files) imports.set(file, readImports(readFileSync(join(repo, file), 'utf8')));

function resolve(from: string, specifier: string): string {
  return normalize(join(dirname(from), specifier)).replaceAll('\\', '/');
}

const edges: Edge[] = [];
for (const [from, refs] of imports) {
  for (const ref of refs) {
    if (ref.specifier.startsWith('.')) edges.push({ from, to: resolve(from, ref.specifier), ref });
  }
}

test(`every product file belongs to a module of ${docPath}`, () => {
  const homeless = files.filter((file) => moduleOf(file) === undefined);
  assert.deepEqual(homeless, [], `add these to the rules table of ${docPath}, or move them`);
  const unused = [...doc.modules.keys()].filter((name) => !files.some((f) => moduleOf(f)?.name === name));
  assert.deepEqual(unused, [], `${docPath} lists modules that hold no file`);
});

test(`the modules of ${docPath} form layers: no module may import, through others, itself`, () => {
  const seen = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (seen.get(name) === 'done') return;
    assert.notEqual(seen.get(name), 'visiting', `circle in the rules: ${[...path, name].join(' → ')}`);
    seen.set(name, 'visiting');
    for (const entry of doc.modules.get(name)?.mayImport ?? []) {
      // An entry is a module, or one file of a module (its surface: `…/index.ts`).
      const next = doc.modules.has(entry) ? entry : moduleOf(entry)?.name;
      assert.ok(next !== undefined, `${docPath}: ${name} may import ${entry}, which is in no module`);
      visit(next, [...path, name]);
    }
    seen.set(name, 'done');
  };
  for (const name of doc.modules.keys()) visit(name, []);
});

test('every import between modules is one the rules allow', () => {
  const problems: string[] = [];
  const seenBreaks = new Set<string>();
  for (const { from, to, ref } of edges) {
    const source = moduleOf(from)!;
    const where = `${from}:${ref.line} imports '${ref.specifier}'`;
    if (!existsSync(join(repo, to))) {
      problems.push(`${where}: ${to} does not exist`);
      continue;
    }
    const target = moduleOf(to);
    if (target === source) continue;
    const breakKey = `${from} → ${to}`;
    if (doc.knownBreaks.has(breakKey)) {
      seenBreaks.add(breakKey);
      continue;
    }
    if (target === undefined) {
      problems.push(`${where}: ${to} is not product code (test helpers stay in test/)`);
    } else if (!source.mayImport.has(target.name) && !source.mayImport.has(to)) {
      const allowed = [...source.mayImport].join(', ') || 'nothing of ours';
      problems.push(`${where} (${target.name}): rule "${source.name} may import ${allowed}"`);
    }
  }
  for (const stale of doc.knownBreaks) {
    if (!seenBreaks.has(stale)) problems.push(`${docPath} lists the known break ${stale}, which is gone`);
  }
  assert.deepEqual(problems, [], `imports that break ${docPath}:\n${problems.join('\n')}`);
});

test('every package a module imports is listed for it', () => {
  const problems: string[] = [];
  for (const [file, refs] of imports) {
    const module = moduleOf(file)!;
    for (const ref of refs) {
      if (ref.specifier.startsWith('.') || ref.specifier.startsWith('node:')) continue;
      const name = packageName(ref.specifier);
      if (module.packages.has(name)) continue;
      const allowed = [...module.packages].join(', ') || 'none';
      problems.push(
        `${file}:${ref.line} imports the package '${name}': rule "${module.name} uses the packages ${allowed}"`,
      );
    }
  }
  assert.deepEqual(problems, [], `package imports that break ${docPath}:\n${problems.join('\n')}`);
});

/** Strongly connected components of the file graph (Tarjan): each one with more than one file is a circle. */
function circles(): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const file of files) if (!index.has(file)) connect(file);
  return found;
}

test('no file imports, through others, itself (type-only imports count)', () => {
  const found = circles().map((c) => c.join(' ↔ '));
  const unexpected = found.filter((c) => !doc.knownCircles.has(c));
  const gone = [...doc.knownCircles].filter((c) => !found.includes(c));
  assert.deepEqual(unexpected, [], `import circles:\n${unexpected.join('\n')}`);
  assert.deepEqual(gone, [], `${docPath} lists known circles that are gone (remove them)`);
});

test('the scanner reads every import esbuild reads (so no form of import escapes the rules)', async () => {
  const result = await build({
    entryPoints: files.map((f) => join(repo, f)),
    absWorkingDir: repo,
    bundle: true,
    write: false,
    metafile: true,
    outdir: 'out',
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const missed: string[] = [];
  for (const [input, { imports: seen }] of Object.entries(result.metafile.inputs)) {
    const file = relative(repo, join(repo, input)).replaceAll('\\', '/');
    const ours = imports.get(file);
    if (ours === undefined) continue;
    for (const esbuildRef of seen) {
      // `original` is the specifier as written; external packages carry it in `path`.
      const specifier = esbuildRef.original ?? esbuildRef.path;
      if (!ours.some((ref) => ref.specifier === specifier)) {
        missed.push(`${file}: ${esbuildRef.kind} '${specifier}'`);
      }
    }
  }
  assert.deepEqual(missed, [], 'imports the scanner (test/architecture/imports.ts) did not read');
});

test('the scanner reads type-only, multi-line and dynamic imports, and skips comments, strings and regexes', () => {
  const source = [
    "import type { A } from './a.ts';",
    'import {',
    '  b,',
    '  type C,',
    "} from './b.ts';",
    "// import { x } from './commented.ts';",
    "/* import './block.ts'; */",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source under test holds a template literal
    "const text = `import { y } from './template.ts' ${`nested ${1}`}`;",
    "const pattern = /import '.\\/regex.ts'/;",
    "export * as d from './d.ts';",
    "const e = await import('./e.ts');",
    "type F = import('./f.ts').F;",
    "import './side-effect.ts';",
  ].join('\n');
  assert.deepEqual(
    readImports(source).map((ref) => `${ref.line} ${ref.specifier}${ref.typeOnly ? ' (type)' : ''}`),
    ['1 ./a.ts (type)', '5 ./b.ts', '10 ./d.ts', '11 ./e.ts', '12 ./f.ts', '13 ./side-effect.ts'],
  );
});
