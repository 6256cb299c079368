/**
 * The parsed YAML document with line:column lookup for any path, so that every
 * error can point at the spot in the file.
 */

import { isMap, isScalar, LineCounter, parseDocument, Scalar } from 'yaml';
import type { Document, Node } from 'yaml';

export type Path = readonly (string | number)[];

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface YamlProblem extends Position {
  readonly message: string;
}

/** Largest accepted pipeline file; the file is configuration, not data. */
export const MAX_PIPELINE_BYTES = 1024 * 1024;

export class YamlSource {
  readonly text: string;
  readonly problems: readonly YamlProblem[];
  /** The document as plain data (undefined when YAML errors prevent it). */
  readonly data: unknown;
  private readonly doc: Document.Parsed;
  private readonly lines: LineCounter;

  constructor(text: string) {
    this.text = text;
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true, strict: true, merge: true });
    const problems: YamlProblem[] = [];
    for (const e of [...this.doc.errors, ...this.doc.warnings]) {
      const at = this.lines.linePos(e.pos[0]);
      // The library's message ends with its own " at line x, column y" and a snippet; we print the position ourselves.
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      problems.push({ line: at.line, column: at.col, message: `invalid YAML: ${message}` });
    }
    this.problems = problems;
    let data: unknown;
    if (problems.length === 0) {
      try {
        data = this.doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        problems.push({ line: 1, column: 1, message: `invalid YAML: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    this.data = data;
  }

  private node(path: Path): Node | undefined {
    if (path.length === 0) return (this.doc.contents as Node | null) ?? undefined;
    const n = this.doc.getIn(path, true);
    return n !== null && typeof n === 'object' && 'range' in n ? (n as Node) : undefined;
  }

  private at(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /**
   * Position of the value at `path`; of its key with `key: true`; of a character
   * inside a one-line scalar with `offsetInValue`. Falls back to the nearest
   * existing ancestor (e.g. the rule's map for a missing field).
   */
  position(path: Path, opts: { key?: boolean; offsetInValue?: number } = {}): Position | undefined {
    if (opts.key && path.length > 0) {
      const parent = this.node(path.slice(0, -1));
      const last = path[path.length - 1];
      if (parent && isMap(parent)) {
        for (const pair of parent.items) {
          const k = pair.key;
          if (isScalar(k) && k.value === last && k.range) return this.at(k.range[0]);
        }
      }
    }
    for (let len = path.length; len >= 0; len--) {
      const n = this.node(path.slice(0, len));
      if (!n?.range) continue;
      if (len === path.length && opts.offsetInValue !== undefined && isScalar(n)) {
        const inner = this.scalarContentStart(n);
        if (inner !== undefined) return this.at(inner + opts.offsetInValue);
      }
      return this.at(n.range[0]);
    }
    return undefined;
  }

  /** Where a scalar's characters start, when the text maps 1:1 onto its value (one line, no escapes). */
  private scalarContentStart(n: Scalar): number | undefined {
    if (typeof n.value !== 'string' || !n.range) return undefined;
    const delta = n.type === Scalar.PLAIN ? 0 : n.type === Scalar.QUOTE_SINGLE || n.type === Scalar.QUOTE_DOUBLE ? 1 : undefined;
    if (delta === undefined) return undefined;
    const start = n.range[0] + delta;
    return this.text.slice(start, start + n.value.length) === n.value ? start : undefined;
  }
}
