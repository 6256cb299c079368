import type { ChildProcess } from 'node:child_process';

/**
 * Child processes the emulators started. They are killed when this process
 * exits, and on SIGINT / SIGTERM / SIGHUP: if nothing else handles the signal,
 * the signal is then re-raised so the process ends as it would have.
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
  killAll();
  if (process.listenerCount(signal) === 1) {
    for (const s of SIGNALS) process.off(s, onSignal);
    process.kill(process.pid, signal);
  }
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
