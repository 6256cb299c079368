/** The pipeline file: loading, validation, compilation into the core's Pipeline model. */

export { parsePipeline } from './compile';
export type { ParseOptions } from './compile';
export { loadPipeline } from './load';
export { PipelineError, formatIssue } from './errors';
export type { PipelineIssue } from './errors';
export { parseDuration, tryParseDuration, formatDuration, tryParseByteSize, formatByteSize } from './duration';
export {
  renderTemplate,
  formatNumber,
  templateNames,
  templatePlaceholders,
  COMMON_TEMPLATE_NAMES,
  WINDOW_TEMPLATE_NAMES,
  ABSENCE_TEMPLATE_NAMES,
  ABSENCE_RESOLVED_TEMPLATE_NAMES,
  NULL_TEXT,
} from './template';
export { compileAggregate, AGGREGATE_FUNCTIONS } from './aggregates';
export { compileJsonSchema } from './jsonSchema';
export { BOUNDS, DEFAULTS } from './schema';
