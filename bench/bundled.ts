/**
 * Runs a benchmark script as AWS runs tidewatch's Lambda code: bundled by
 * esbuild with the functions' bundling options (lib/bundling.ts) and run by
 * node with their NODE_OPTIONS. `npm run bench:core` is
 * `tsx bench/bundled.ts bench/core.ts [args]`; `npm run bench` runs its core
 * part the same way. Under tsx (each file transpiled on its own, imports read
 * through CommonJS export getters) the same core measured about 8% slower
 * than bundled, relative to the same decode floor.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildSync } from 'esbuild';
import { LAMBDA_BUNDLING, LAMBDA_NODE_OPTIONS } from '../lib/bundling';

/** Bundles `entry` (a TypeScript file) into a fresh temporary directory; returns the bundle's path. */
export function bundle(entry: string): string {
  const outfile = join(mkdtempSync(join(tmpdir(), 'tidewatch-bench-')), basename(entry).replace(/\.ts$/, '.cjs'));
  buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: LAMBDA_BUNDLING.target,
    minify: LAMBDA_BUNDLING.minify,
    keepNames: LAMBDA_BUNDLING.keepNames,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    sourcesContent: LAMBDA_BUNDLING.sourcesContent,
    external: [...LAMBDA_BUNDLING.externalModules],
    logLevel: 'warning',
  });
  return outfile;
}

/**
 * Bundles `entry` and runs it with `args`; stderr is passed through. Resolves
 * with its standard output when it exits with 0 (stdout is also passed
 * through when `echo`), rejects otherwise.
 */
export function runBundled(entry: string, args: readonly string[], echo: boolean): Promise<string> {
  const file = bundle(entry);
  return new Promise((resolve, reject) => {
    // The bundle lives in a temporary folder: modules left external (protobufjs, which the KPL batch's
    // encoder, aws-kinesis-agg, needs) are found in this repository's node_modules.
    const env = { ...process.env, NODE_PATH: join(__dirname, '..', 'node_modules') };
    const child = spawn(process.execPath, [...LAMBDA_NODE_OPTIONS.split(' '), file, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (echo) process.stdout.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${entry} (bundled as ${file}) exited with ${signal ?? `code ${String(code)}`}`));
    });
  });
}

// `tsx bench/bundled.ts <entry.ts> [args...]`
if (require.main === module) {
  const [entry, ...args] = process.argv.slice(2);
  if (entry === undefined || !entry.endsWith('.ts')) {
    console.error('usage: tsx bench/bundled.ts <script.ts> [args...]');
    process.exit(2);
  }
  runBundled(entry, args, true).catch((err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
