import { Readable } from 'node:stream';
import { findJsonField, replaceJsonField } from '../../../local/producer/jsonField';
import { EventTimeShifter } from '../../../local/producer/eventTime';
import { parseJsonLine, readLines } from '../../../local/producer/ndjson';

async function lines(chunks: Array<string | Buffer>) {
  const out: Array<[number, string]> = [];
  for await (const l of readLines(Readable.from(chunks))) out.push([l.line, l.bytes.toString('hex')]);
  return out;
}
const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');

describe('reading lines byte for byte', () => {
  it('splits at \\n across chunks, drops \\r\\n and a leading BOM, skips blank lines but counts them', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(await lines([Buffer.concat([bom, Buffer.from('{"a":1}\r\n{"b"')]), Buffer.from(':2}\n\n  \t\nlast')])).toEqual([
      [1, hex('{"a":1}')],
      [2, hex('{"b":2}')],
      [5, hex('last')],
    ]);
  });

  it('keeps bytes that are not UTF-8, and JSON parsing says why it refuses them', async () => {
    const bad = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]);
    const read: Buffer[] = [];
    for await (const x of readLines(Readable.from([Buffer.concat([bad, Buffer.from('\n')])]))) read.push(x.bytes);
    expect(read).toEqual([bad]);
    expect(parseJsonLine({ bytes: bad, line: 7 })).toEqual({ error: expect.objectContaining({ message: 'line 7: not valid UTF-8 (emit --raw sends such a line as it is)' }) });
    expect(parseJsonLine({ bytes: Buffer.from('{"ok":1}'), line: 1 })).toEqual({ record: { ok: 1 } });
  });
});

describe('rewriting one JSON field and nothing else', () => {
  const text = '{ "id" : 12345678901234567890, "nested": {"ts": "x", "s": "a}\\"b"}, "ts":"2026-01-01T00:00:00Z" ,"arr":[1,{"ts":3}] }';

  it('finds top-level and nested values, skipping strings with braces and escapes', () => {
    const top = findJsonField(text, ['ts'])!;
    expect(text.slice(top.start, top.end)).toBe('"2026-01-01T00:00:00Z"');
    const nested = findJsonField(text, ['nested', 'ts'])!;
    expect(text.slice(nested.start, nested.end)).toBe('"x"');
    expect(findJsonField(text, ['missing'])).toBeUndefined();
    expect(findJsonField(text, ['id', 'x'])).toBeUndefined();
  });

  it('replaces the value in place', () => {
    expect(replaceJsonField(text, ['ts'], '"NEW"')).toBe(text.replace('"2026-01-01T00:00:00Z"', '"NEW"'));
    expect(replaceJsonField('{"ts":1,"ts":2}', ['ts'], '9')).toBe('{"ts":1,"ts":9}'); // the one JSON.parse keeps
  });

  it('shifts event times by one offset, keeping the form of each (ISO string or epoch ms)', () => {
    const shifter = new EventTimeShifter('ts', () => Date.parse('2026-06-01T00:00:00Z'));
    const shift = (line: string) => shifter.shift(Buffer.from(line), JSON.parse(line) as object)?.toString() ?? null;
    expect(shift('{"ts":"2026-01-01T00:00:00Z","n":1.50}')).toBe('{"ts":"2026-06-01T00:00:00.000Z","n":1.50}');
    expect(shift(`{"ts":${Date.parse('2026-01-01T00:01:00Z')}}`)).toBe(`{"ts":${Date.parse('2026-06-01T00:01:00Z')}}`);
    expect(shift('{"ts":"not a time"}')).toBeNull();
    expect(shifter.unchanged).toBe(1);
  });
});
