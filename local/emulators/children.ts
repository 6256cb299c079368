import type { ChildProcess } from 'node:child_process';

/**
 * Child processes the emulators started. They are killed when this process
 * exits (whatever the reason), and on SIGINT / SIGTERM / SIGHUP **only when
 * nothing else handles the signal**: then the signal is re-raised so the
 * process ends as it would have. A program that handles the signal itself
 * (npm start does) stops the emulators in its own order: producers, the event
 * source mapping, then the emulators. Killing them at the signal would pull
 * Kinesis away from batches still in flight.
 */
const children = new Set<ChildProcess>();
let installed = false;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // the program handles it, and stops the emulators in order
  killAll();
  for (const s of SIGNALS) process.off(s, onSignal);
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed || children.size > 0) return;
  installed = false;
  process.off('exit', killAll);
  for (const s of SIGNALS) process.off(s, onSignal);
}

export function track(child: ChildProcess): void {
  children.add(child);
  install();
  child.once('exit', () => {
    children.delete(child);
    uninstall();
  });
}
