import { parsePipeline, PipelineError } from '../../../lambdas/core/pipeline';
import type { ParseOptions, PipelineIssue } from '../../../lambdas/core/pipeline';

/** A valid streams section; rules are appended by the tests (so rule lines start at line 5). */
export const STREAMS = ['streams:', '  telemetry:', '    timestamp: ts', 'rules:'].join('\n') + '\n';

/** Parses text that must fail and returns the PipelineError. */
export function pipelineError(text: string, file = 'p.yaml', opts: ParseOptions = {}): PipelineError {
  try {
    parsePipeline(text, file, opts);
  } catch (e) {
    if (e instanceof PipelineError) return e;
    throw e;
  }
  throw new Error('expected a PipelineError, but the pipeline loaded');
}

/** The issues of a failing pipeline as `file:line:col: rule "X" field "y": message` lines. */
export function issueLines(text: string, file = 'p.yaml', opts: ParseOptions = {}): string[] {
  return pipelineError(text, file, opts).message.split('\n').filter((l) => !/^\d+ problems in /.test(l)).map((l) => l.trim());
}

export type { PipelineIssue };
