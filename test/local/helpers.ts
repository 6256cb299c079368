import { randomUUID } from 'node:crypto';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type _Record,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import type { Log, LogLevel } from '../../local/esm';

/** A stream name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Puts JSON payloads in order (one PutRecords per 500), returns the sequence number of each. */
export async function putJson(client: KinesisClient, streamName: string, payloads: ReadonlyArray<{ readonly key: string; readonly body: object }>): Promise<string[]> {
  const seqs: string[] = [];
  for (let i = 0; i < payloads.length; i += 500) {
    const chunk = payloads.slice(i, i + 500);
    const res = await client.send(
      new PutRecordsCommand({ StreamName: streamName, Records: chunk.map((p) => ({ PartitionKey: p.key, Data: Buffer.from(JSON.stringify(p.body)) })) }),
    );
    if (res.FailedRecordCount) throw new Error(`putJson: ${res.FailedRecordCount} records failed`);
    seqs.push(...res.Records!.map((r) => r.SequenceNumber!));
  }
  return seqs;
}

/** Every record of every shard, per shard in order (TRIM_HORIZON to the current end). */
export async function readAll(client: KinesisClient, streamName: string): Promise<Array<_Record & { shardId: string }>> {
  const out: Array<_Record & { shardId: string }> = [];
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: streamName }));
  for (const shard of Shards) {
    let { ShardIterator: it } = await client.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    while (it) {
      const res = await client.send(new GetRecordsCommand({ ShardIterator: it }));
      out.push(...(res.Records ?? []).map((r) => ({ ...r, shardId: shard.ShardId! })));
      if ((res.Records ?? []).length === 0) break;
      it = res.NextShardIterator;
    }
  }
  return out;
}

/** The JSON payload of a Lambda-shaped Kinesis record. */
export function payload<T = Record<string, unknown>>(r: KinesisStreamRecord): T {
  return JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8')) as T;
}

/** A log that keeps messages for assertions instead of printing them. */
export function captureLog(): { readonly log: Log; readonly lines: Array<{ level: LogLevel; message: string }> } {
  const lines: Array<{ level: LogLevel; message: string }> = [];
  return { lines, log: (level, message) => void lines.push({ level, message }) };
}
