// Loaded first by `npm start` (node --import ./bin/signals.mjs --import tsx bin/start.ts), before
// Node loads the TypeScript loader and the program: a Ctrl-C or SIGTERM that arrives meanwhile is
// remembered instead of killing the process half-started, and bin/start.ts then stops cleanly (exit 0).
const signals = [];
const latch = (signal) => signals.push(signal);
process.on('SIGINT', latch);
process.on('SIGTERM', latch);
globalThis[Symbol.for('tidewatch.earlySignals')] = {
  signals,
  release() {
    process.off('SIGINT', latch);
    process.off('SIGTERM', latch);
  },
};
