/** Base class of the producer's errors. */
export class ProducerError extends Error {
  override readonly name: string = 'ProducerError';
}

/** A record that Kinesis would refuse (too large, bad partition key); `label` names it, e.g. "line 12". */
export class InvalidRecordError extends ProducerError {
  override readonly name = 'InvalidRecordError';
  constructor(readonly label: string, readonly reason: string) {
    super(`${label}: ${reason}`);
  }
}

/** An input line that is not a JSON object. */
export class InvalidInputError extends ProducerError {
  override readonly name = 'InvalidInputError';
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

/** PutRecords failed in a way retrying cannot fix (unknown stream, access denied, bad request). */
export class PutRecordsError extends ProducerError {
  override readonly name = 'PutRecordsError';
  constructor(readonly streamName: string, cause: unknown) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`PutRecords to stream ${streamName} failed: ${detail}`, { cause });
  }
}
