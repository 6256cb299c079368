'use strict';
/*
 * Preloaded into kinesis-local (`node --require loopback.cjs main.js`, see kinesis.ts).
 *
 * 1. Every server it opens listens on 127.0.0.1: kinesis-mock binds its plain and
 *    TLS ports on all interfaces, and a local tool must not open ports to the network.
 * 2. It exits when the process that started it is gone (TIDEWATCH_PARENT_PID), so
 *    a killed `npm start` or test leaves no emulator behind.
 */
const net = require('node:net');

const WILDCARD = new Set([undefined, null, '', '0.0.0.0', '::', '::0']);
const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen(options[, callback]): only TCP options (no path, fd or handle) get a host.
    if (first.path === undefined && first.fd === undefined && first.handle === undefined && first._handle === undefined && WILDCARD.has(first.host)) {
      args[0] = { ...first, host: LOOPBACK };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
      if (WILDCARD.has(args[1])) args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  }
  return listen.apply(this, args);
};

const parent = Number(process.env.TIDEWATCH_PARENT_PID);
if (Number.isInteger(parent) && parent > 1) {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (err) {
      if (err && err.code === 'ESRCH') process.exit(0);
    }
  }, 1000).unref();
}
