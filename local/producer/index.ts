export { EMIT_USAGE, fieldKey, kinesisClientFor, parseDuration, runEmit, type EmitIo } from './cli';
export { InvalidInputError, InvalidRecordError, ProducerError, PutRecordsError } from './errors';
export { generateTelemetryLive, type GenerateOptions } from './generate';
export { MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES, MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES } from './limits';
export { parseJsonLine, readLines, readNdjson, type InputLine, type NdjsonLine, type NdjsonOptions } from './ndjson';
export { EncodedRecord, Producer, type ProducerOptions, type ProducerSummary, type RecordFailure } from './Producer';
