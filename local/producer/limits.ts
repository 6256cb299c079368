/** Kinesis PutRecords limits (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html). */
export const MAX_RECORDS_PER_REQUEST = 500;
/** Per request: the sum of data and partition keys. */
export const MAX_REQUEST_BYTES = 5 * 1024 * 1024;
/** Per record: data plus partition key. */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Partition keys are 1 to 256 Unicode characters. */
export const MAX_PARTITION_KEY_CHARS = 256;
