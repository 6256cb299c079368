/**
 * Early validation of construct props. Every message names the value given and
 * the values allowed; values that are unresolved tokens (CloudFormation
 * parameters, references) cannot be checked at synth and are let through,
 * except where a check says otherwise.
 */
import { Duration, Token } from 'aws-cdk-lib';

/** The error thrown for invalid props: a plain Error with a recognisable name. */
export class TidewatchConfigError extends Error {
  override readonly name = 'TidewatchConfigError';
}

function where(scope: string | undefined): string {
  return scope === undefined ? '' : `${scope}: `;
}

/** An integer in [min, max]; `undefined` and unresolved tokens pass. */
export function checkInteger(name: string, value: number | undefined, min: number, max: number, scope?: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TidewatchConfigError(`${where(scope)}${name} must be an integer between ${min} and ${max} inclusive (given ${value})`);
  }
}

/** A number >= min; `undefined` and unresolved tokens pass. */
export function checkAtLeast(name: string, value: number | undefined, min: number, scope?: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value < min) {
    throw new TidewatchConfigError(`${where(scope)}${name} must be a number >= ${min} (given ${value})`);
  }
}

/** Describes a duration for messages: `Duration.toHumanString()` when resolved. */
function show(d: Duration): string {
  return d.toHumanString();
}

/**
 * A duration in [min, max], whole in `unit` when given (e.g. whole seconds,
 * whole minutes); `undefined` and unresolved tokens pass.
 */
export function checkDuration(
  name: string,
  value: Duration | undefined,
  min: Duration,
  max: Duration,
  scope?: string,
  wholeUnit?: 'seconds' | 'minutes' | 'hours',
): void {
  if (value === undefined || value.isUnresolved()) return;
  const ms = value.toMilliseconds();
  if (ms < min.toMilliseconds() || ms > max.toMilliseconds()) {
    throw new TidewatchConfigError(`${where(scope)}${name} must be between ${show(min)} and ${show(max)} inclusive (given ${show(value)})`);
  }
  if (wholeUnit !== undefined) {
    const unitMs = { seconds: 1000, minutes: 60_000, hours: 3_600_000 }[wholeUnit];
    if (ms % unitMs !== 0) {
      throw new TidewatchConfigError(`${where(scope)}${name} must be a whole number of ${wholeUnit} (given ${show(value)})`);
    }
  }
}

/** One of the allowed values; `undefined` and unresolved tokens pass. */
export function checkOneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], scope?: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!allowed.includes(value)) {
    throw new TidewatchConfigError(`${where(scope)}${name} must be one of ${allowed.join(', ')} (given ${JSON.stringify(value)})`);
  }
}
