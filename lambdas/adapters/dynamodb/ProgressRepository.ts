import type { Conditional, ProgressStorage } from '../../core/state/StateStorage';
import type { EpochMs } from '../../core/types';
import type { ShardProgress } from '../../core/watermark';
import { and, atMost, attributeNotExists, equals, lessThan, or } from './expressions';
import { ATTR, progressLayout, watermarkLayout } from './tableLayout';
import type { StateTable } from './StateTable';

/**
 * Shard progress items (one per shard: its largest event time and last
 * activity) and the stream's watermark item: monotonic registers, each write
 * conditioned on not moving them backwards. A shard's own progress is cached:
 * with one lane per shard, this container wrote it last.
 */
export class ProgressRepository implements ProgressStorage {
  private readonly cache = new Map<string, ShardProgress>();

  constructor(private readonly table: StateTable) {}

  async get(stream: string, shardId: string): Promise<ShardProgress | undefined> {
    const cached = this.cache.get(`${stream}\u0000${shardId}`);
    if (cached) return cached;
    const item = await this.table.get('progress', 'progress.read', progressLayout.key(stream, shardId));
    if (!item) return undefined;
    const p = progressLayout.decode(item);
    this.cache.set(`${stream}\u0000${shardId}`, p);
    return p;
  }

  async raise(stream: string, target: ShardProgress): Promise<Conditional<ShardProgress>> {
    const id = `${stream}\u0000${target.shardId}`;
    const written = await this.table.write(
      'progress',
      'progress.raise',
      progressLayout.key(stream, target.shardId),
      {
        kind: 'update',
        update: { set: { [ATTR.maxEventTime]: target.maxEventTime, [ATTR.lastActivity]: target.lastActivity } },
        condition: and(or(attributeNotExists(ATTR.maxEventTime), atMost(ATTR.maxEventTime, target.maxEventTime)), or(attributeNotExists(ATTR.lastActivity), atMost(ATTR.lastActivity, target.lastActivity))),
      },
      'current',
    );
    if (written.ok) {
      this.cache.set(id, target);
      return { ok: true, value: target };
    }
    // Another writer is ahead in a field.
    this.cache.delete(id);
    return { ok: false, current: written.current === undefined ? undefined : progressLayout.decode(written.current) };
  }

  async list(stream: string): Promise<ShardProgress[]> {
    const partition = progressLayout.partition(stream);
    const items = await this.table.query('progress', 'progress.list', partition, { keyCondition: equals(ATTR.pk, partition), consistent: true });
    return items.map((item) => progressLayout.decode(item));
  }

  async getWatermark(stream: string): Promise<EpochMs> {
    return watermarkLayout.decode(await this.table.get('watermark', 'watermark.read', watermarkLayout.key(stream)));
  }

  async raiseWatermark(stream: string, watermark: EpochMs): Promise<boolean> {
    const written = await this.table.write(
      'watermark',
      'watermark.raise',
      watermarkLayout.key(stream),
      { kind: 'update', update: { set: { [ATTR.watermark]: watermark } }, condition: or(attributeNotExists(ATTR.watermark), lessThan(ATTR.watermark, watermark)) },
      'ignore',
    );
    return written.ok;
  }
}
