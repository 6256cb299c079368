/** Loading a pipeline file from disk (reading files is allowed here: it is not AWS). */

import { readFileSync } from 'node:fs';
import type { Pipeline } from '../types';
import { parsePipeline } from './compile';
import { PipelineError } from './errors';

/** Reads, validates and compiles a pipeline file; JSON Schemas are read relative to it. Throws PipelineError. */
export function loadPipeline(path: string, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Pipeline {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new PipelineError([{ file: path, field: '', message: `cannot read the pipeline file: ${e instanceof Error ? e.message : String(e)}` }]);
  }
  return parsePipeline(text, path, { readSchema: readFile });
}
