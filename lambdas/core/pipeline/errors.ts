/**
 * Errors of the pipeline file. Loading collects every problem it finds and
 * throws them together as one PipelineError, so a user fixes the file in one go.
 */

export interface PipelineIssue {
  /** The pipeline file (as given to the loader). */
  readonly file: string;
  /** 1-based line and column in the file, when known. */
  readonly line?: number;
  readonly column?: number;
  /** The rule: its alert name (`HighErrorRate`), or `#3` (1-based position) when it has no usable name. */
  readonly rule?: string;
  /** The stream, for problems in `streams:` (an addition to the brief's fields; optional). */
  readonly stream?: string;
  /** The field, as a dotted path inside the rule or stream (e.g. `window`, `aggregate.p99`), or a top-level key. */
  readonly field: string;
  readonly message: string;
}

/** `file:line:col: rule "X" field "y": message` */
export function formatIssue(issue: PipelineIssue): string {
  let where = issue.file;
  if (issue.line !== undefined) where += `:${issue.line}${issue.column !== undefined ? `:${issue.column}` : ''}`;
  const parts: string[] = [];
  if (issue.rule !== undefined) parts.push(issue.rule.startsWith('#') ? `rule ${issue.rule}` : `rule "${issue.rule}"`);
  if (issue.stream !== undefined) parts.push(`stream "${issue.stream}"`);
  if (issue.field !== '') parts.push(`field "${issue.field}"`);
  return `${where}: ${parts.length > 0 ? `${parts.join(' ')}: ` : ''}${issue.message}`;
}

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  readonly issues: readonly PipelineIssue[];

  constructor(issues: readonly PipelineIssue[]) {
    const sorted = [...issues].sort(
      (a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
    );
    const head = sorted.length === 1 ? '' : `${sorted.length} problems in ${sorted[0]?.file ?? 'the pipeline file'}:\n  `;
    super(head + sorted.map(formatIssue).join('\n  '));
    this.issues = sorted;
  }
}
