/** Base class of the core's errors: each sets `name` and keeps `cause`. */
export class TidewatchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A contract of the core was broken by its caller (a bug, not bad input). */
export class InvariantError extends TidewatchError {}
