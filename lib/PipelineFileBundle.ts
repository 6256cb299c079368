/**
 * The pipeline file and the JSON Schema files it references, as they are
 * copied into each function bundle. The handlers read the pipeline at run time
 * from `TIDEWATCH_PIPELINE_FILE`, a path relative to the bundle root (Lambda's
 * working directory, /var/task), and resolve schema paths relative to it, so
 * the files keep their layout relative to each other under `tidewatch/`.
 */
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readFileSync } from 'node:fs';
import type { ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import { loadPipeline, PipelineError } from '../lambdas/core/pipeline';
import type { Pipeline } from '../lambdas/core/types';
import { TidewatchConfigError } from './validate';

/** Folder of the bundle that holds the pipeline file and its schemas. */
export const BUNDLE_PIPELINE_DIR = 'tidewatch';

/** One file copied into the bundle. */
export interface BundledFile {
  /** Absolute path on the machine running `cdk synth`. */
  readonly source: string;
  /** Path relative to the bundle root, with `/` separators. */
  readonly target: string;
}

function commonDir(paths: readonly string[]): string {
  let common = dirname(paths[0]!);
  for (const p of paths.slice(1)) {
    while (relative(common, p).startsWith('..') || isAbsolute(relative(common, p))) {
      const up = dirname(common);
      if (up === common) break;
      common = up;
    }
  }
  return common;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class PipelineFileBundle {
  /**
   * Loads and validates the pipeline file (throws `PipelineError` naming
   * file:line:col, rule and field), then checks that the copy inside the
   * bundle loads too: every file it references must be reachable by a
   * relative path.
   *
   * @param pipelineFile path of the pipeline file, absolute or relative to the working directory.
   */
  static load(pipelineFile: string): PipelineFileBundle {
    const read: string[] = [];
    const pipeline = loadPipeline(pipelineFile, (p) => {
      const text = readFileSync(p, 'utf8');
      if (!read.includes(resolve(p))) read.push(resolve(p));
      return text;
    });
    const base = commonDir(read);
    const files = read.map((source) => ({
      source,
      target: [BUNDLE_PIPELINE_DIR, ...relative(base, source).split(sep)].join('/'),
    }));
    const bundle = new PipelineFileBundle(pipeline, files);
    bundle.checkLoadsInsideBundle(pipelineFile);
    return bundle;
  }

  /** The value of `TIDEWATCH_PIPELINE_FILE`: the pipeline file's path relative to the bundle root. */
  readonly runtimePath: string;

  private constructor(
    /** The validated pipeline (streams and rules). */
    readonly pipeline: Pipeline,
    /** The pipeline file first, then the schema files. */
    readonly files: readonly BundledFile[],
  ) {
    this.runtimePath = files[0]!.target;
  }

  /** `afterBundling` hook: plain `mkdir -p` and `cp`, no Docker. */
  commandHooks(): ICommandHooks {
    const files = this.files;
    return {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => {
        const dirs = [...new Set(files.map((f) => dirname(join(outputDir, f.target))))];
        return [
          ...dirs.map((d) => `mkdir -p ${shellQuote(d)}`),
          ...files.map((f) => `cp ${shellQuote(f.source)} ${shellQuote(join(outputDir, f.target))}`),
        ];
      },
    };
  }

  /**
   * Loads the pipeline as the handler will, from the bundle layout, reading
   * only files that are copied; a schema given by an absolute path would be
   * missing in Lambda.
   */
  private checkLoadsInsideBundle(pipelineFile: string): void {
    const byTarget = new Map(this.files.map((f) => [f.target, f.source]));
    try {
      loadPipeline(this.runtimePath, (p) => {
        const source = byTarget.get(p.split(sep).join('/'));
        if (source === undefined) throw new Error(`${p} is not in the function bundle`);
        return readFileSync(source, 'utf8');
      });
    } catch (e) {
      const detail = e instanceof PipelineError ? e.issues.map((i) => i.message).join('; ') : String(e);
      throw new TidewatchConfigError(
        `pipeline file ${pipelineFile} does not load from inside the function bundle (${detail}): ` +
          'write schema paths relative to the pipeline file',
      );
    }
  }
}
