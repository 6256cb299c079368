/** Base class of the local event source mapping's errors. */
export class EventSourceMappingError extends Error {
  override readonly name: string = 'EventSourceMappingError';
}

/** An option is missing or out of range; the message names it, the value given and the values allowed. */
export class EventSourceMappingConfigError extends EventSourceMappingError {
  override readonly name = 'EventSourceMappingConfigError';
}

/** `idle()` gave up: the message says what each shard was still doing. */
export class IdleTimeoutError extends EventSourceMappingError {
  override readonly name = 'IdleTimeoutError';
}
