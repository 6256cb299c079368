/**
 * Imported first by every tidewatch entry point. The AWS SDK prints a 7-line
 * notice that its releases after January 2027 will need Node.js 22: that is
 * for us (the lock file pins a version that runs on Node.js 20), not for the
 * person running the CLI. An explicit setting of the variable is respected.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export {};
