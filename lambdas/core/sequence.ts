/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits. They are
 * compared as fixed-width, zero-padded strings — never as JavaScript numbers,
 * which lose precision past 2^53.
 */
export const SEQUENCE_WIDTH = 129;

const DIGITS = /^[0-9]{1,129}$/;

export function padSequence(sequenceNumber: string): string {
  if (!DIGITS.test(sequenceNumber)) {
    throw new RangeError(`sequence number must be 1 to ${SEQUENCE_WIDTH} decimal digits (given ${JSON.stringify(sequenceNumber.slice(0, 40))})`);
  }
  return sequenceNumber.padStart(SEQUENCE_WIDTH, '0');
}

/** Compares two sequence numbers (raw or padded): negative, zero or positive. */
export function compareSequence(a: string, b: string): number {
  const pa = a.length === SEQUENCE_WIDTH ? a : padSequence(a);
  const pb = b.length === SEQUENCE_WIDTH ? b : padSequence(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** Removes the padding, for messages and for Lambda's batchItemFailures. */
export function unpadSequence(padded: string): string {
  const s = padded.replace(/^0+/, '');
  return s === '' ? '0' : s;
}
