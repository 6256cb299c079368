#!/usr/bin/env node
'use strict';
// The package's "bin": runs bin/tidewatch.ts with the tsx loader in a child
// Node process, passing arguments, stdio, signals and the exit status through.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const root = path.resolve(__dirname, '..');
const loader = pathToFileURL(require.resolve('tsx', { paths: [root] })).href;
// The AWS SDK's notice that its 2027 releases need Node.js 22 is not for the person running the CLI.
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true' };
const child = spawn(process.execPath, ['--import', loader, path.join(__dirname, 'tidewatch.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
});

// Signals go to the child, which finishes gracefully. (Ctrl-C in a terminal reaches
// both processes; the CLI counts signals less than 0.5 s apart as one.)
const forward = (signal) => () => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
const handlers = { SIGINT: forward('SIGINT'), SIGTERM: forward('SIGTERM'), SIGHUP: forward('SIGHUP') };
for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);

child.on('error', (err) => {
  process.stderr.write(`tidewatch: cannot start node: ${err.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  for (const [s, handler] of Object.entries(handlers)) process.off(s, handler);
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
