// Finds the line and column of each key path in a TOML document, so that a validation error
// can say `config.toml:12:1: http.bindng: ...`.
//
// Hand-written because smol-toml returns plain values without positions, and no maintained
// TOML parser for JS exposes a position-carrying AST. This scanner only needs to be good
// enough for error messages: it runs on documents smol-toml already accepted, understands
// tables `[a.b]`, arrays of tables `[[a.b]]` (the n-th one), dotted and quoted keys, inline
// tables and arrays (also spanning lines), strings of all four kinds and comments. Anything it
// cannot follow just yields no position (the error is still reported, without a line).

import { formatPath, type KeyPath } from './errors.ts';

export interface Position {
  line: number;
  column: number;
}

export class KeyLocator {
  readonly #positions: Map<string, Position>;

  constructor(source: string) {
    this.#positions = new Map();
    try {
      new Scanner(source, this.#positions).document();
    } catch {
      // A partial map is still useful; see the module comment.
    }
  }

  /** The position of `path`, else of its closest located ancestor (e.g. the section header). */
  locate(path: KeyPath): Position | undefined {
    for (let n = path.length; n > 0; n--) {
      const pos = this.#positions.get(formatPath(path.slice(0, n)));
      if (pos) return pos;
    }
    return undefined;
  }

  /** Whether the document itself writes this exact path (as a key, table or array element). */
  has(path: KeyPath): boolean {
    return this.#positions.has(formatPath(path));
  }
}

const BARE_KEY = /[A-Za-z0-9_-]/;

class Scanner {
  readonly #src: string;
  readonly #out: Map<string, Position>;
  #i = 0;
  #line = 1;
  #lineStart = 0;
  /** Arrays of tables seen so far (formatted path → element count), to resolve `[[a]]` then `[a.b]`. */
  readonly #arrayTables = new Map<string, number>();

  constructor(src: string, out: Map<string, Position>) {
    this.#src = src;
    this.#out = out;
  }

  document(): void {
    let table: KeyPath = [];
    while (this.#i < this.#src.length) {
      const before = this.#i;
      this.#skipBlank(true);
      const c = this.#src[this.#i];
      if (c === undefined) break;
      if (c === '[') {
        table = this.#header();
      } else {
        this.#keyValue(table);
      }
      this.#skipBlank(false);
      if (this.#src[this.#i] === '#') this.#skipComment();
      if (this.#i === before) this.#advance(); // never loop without progress
    }
  }

  #header(): KeyPath {
    const pos = this.#pos();
    const isArray = this.#src[this.#i + 1] === '[';
    this.#i += isArray ? 2 : 1;
    this.#skipBlank(false);
    const keys = this.#key();
    this.#skipBlank(false);
    this.#i += isArray ? 2 : 1;
    // Resolve through earlier arrays of tables: after `[[a]]`, `[a.b]` belongs to the last `a`.
    const resolved: (string | number)[] = [];
    for (const k of keys) {
      resolved.push(k.name);
      const count = this.#arrayTables.get(formatPath(resolved));
      if (count !== undefined && (k !== keys[keys.length - 1] || !isArray)) resolved.push(count - 1);
    }
    if (isArray) {
      const name = formatPath(resolved);
      const count = (this.#arrayTables.get(name) ?? 0) + 1;
      this.#arrayTables.set(name, count);
      this.#record(resolved, pos);
      resolved.push(count - 1);
    }
    this.#record(resolved, pos);
    return resolved;
  }

  #keyValue(table: KeyPath): void {
    const keys = this.#key();
    if (keys.length === 0) {
      this.#skipLine();
      return;
    }
    const path = [...table];
    for (const k of keys) {
      path.push(k.name);
      this.#record(path, k.pos);
    }
    this.#skipBlank(false);
    if (this.#src[this.#i] !== '=') return;
    this.#i++;
    this.#skipBlank(false);
    this.#value(path);
  }

  #value(path: KeyPath): void {
    const c = this.#src[this.#i];
    if (c === '{') {
      this.#i++;
      for (;;) {
        this.#skipBlank(true);
        const d = this.#src[this.#i];
        if (d === undefined) return;
        if (d === '}') {
          this.#i++;
          return;
        }
        if (d === ',') {
          this.#i++;
          continue;
        }
        const before = this.#i;
        this.#keyValue(path);
        if (this.#i === before) this.#advance();
      }
    }
    if (c === '[') {
      this.#i++;
      for (let index = 0; ; ) {
        this.#skipBlank(true);
        const d = this.#src[this.#i];
        if (d === undefined) return;
        if (d === ']') {
          this.#i++;
          return;
        }
        if (d === ',') {
          this.#i++;
          index++;
          continue;
        }
        const before = this.#i;
        this.#record([...path, index], this.#pos());
        this.#value([...path, index]);
        if (this.#i === before) this.#advance();
      }
    }
    if (c === '"' || c === "'") {
      this.#string();
      return;
    }
    while (this.#i < this.#src.length && !/[,\]}\n#]/.test(this.#src[this.#i]!)) this.#i++;
  }

  /** A (possibly dotted, possibly quoted) key. */
  #key(): { name: string; pos: Position }[] {
    const keys: { name: string; pos: Position }[] = [];
    for (;;) {
      this.#skipBlank(false);
      const pos = this.#pos();
      const c = this.#src[this.#i];
      let name: string;
      if (c === '"' || c === "'") {
        const start = this.#i;
        this.#string();
        name = this.#src.slice(start + 1, this.#i - 1);
        if (c === '"') name = unescapeBasic(name);
      } else {
        const start = this.#i;
        while (this.#i < this.#src.length && BARE_KEY.test(this.#src[this.#i]!)) this.#i++;
        name = this.#src.slice(start, this.#i);
        if (name === '') return keys;
      }
      keys.push({ name, pos });
      this.#skipBlank(false);
      if (this.#src[this.#i] !== '.') return keys;
      this.#i++;
    }
  }

  #string(): void {
    const q = this.#src[this.#i]!;
    const triple = this.#src.startsWith(q.repeat(3), this.#i);
    this.#i += triple ? 3 : 1;
    while (this.#i < this.#src.length) {
      const c = this.#src[this.#i]!;
      if (c === '\\' && q === '"') {
        this.#i += 2;
        continue;
      }
      if (c === '\n') this.#newline();
      if (triple ? this.#src.startsWith(q.repeat(3), this.#i) : c === q) {
        this.#i += triple ? 3 : 1;
        // A multi-line string may end with up to two extra quotes (`""""" `).
        while (triple && this.#src[this.#i] === q) this.#i++;
        return;
      }
      this.#i++;
    }
  }

  #skipBlank(newlines: boolean): void {
    while (this.#i < this.#src.length) {
      const c = this.#src[this.#i]!;
      if (c === ' ' || c === '\t' || c === '\r') this.#i++;
      else if (newlines && c === '\n') this.#advance();
      else if (newlines && c === '#') this.#skipComment();
      else return;
    }
  }

  #skipComment(): void {
    while (this.#i < this.#src.length && this.#src[this.#i] !== '\n') this.#i++;
  }

  #skipLine(): void {
    this.#skipComment();
    if (this.#i < this.#src.length) this.#advance();
  }

  #advance(): void {
    if (this.#src[this.#i] === '\n') {
      this.#i++;
      this.#newline();
    } else this.#i++;
  }

  /** Called with #i just past a newline. */
  #newline(): void {
    this.#line++;
    this.#lineStart = this.#src[this.#i - 1] === '\n' ? this.#i : this.#i + 1;
  }

  #pos(): Position {
    return { line: this.#line, column: this.#i - this.#lineStart + 1 };
  }

  #record(path: KeyPath, pos: Position): void {
    const name = formatPath(path);
    if (!this.#out.has(name)) this.#out.set(name, pos);
  }
}

function unescapeBasic(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}
