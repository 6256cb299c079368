import type { Conditional, ProgressStorage } from '../../core/state/StateStorage';
import type { EpochMs } from '../../core/types';
import type { ShardProgress } from '../../core/watermark';
import { and, atMost, attributeNotExists, equals, lessThan, or } from './expressions';
import { ATTR, progressLayout, watermarkLayout } from './tableLayout';
import type { StateTable } from './StateTable';

/**
 * Shard progress items (one per shard: its largest event time and last
 * activity) and the stream's watermark item: monotonic registers, each write
 * conditioned on not moving them backwards. A shard's own progress is read
 * strongly consistently for every batch, never from a cache of this
 * container's last write: Lambda does not pin a shard to a container, so a
 * warm container that served the shard long ago would hold an older progress
 * and judge lateness on it (chaos seed 86). One read per batch.
 */
export class ProgressRepository implements ProgressStorage {
  constructor(private readonly table: StateTable) {}

  async get(stream: string, shardId: string): Promise<ShardProgress | undefined> {
    const item = await this.table.get('progress', 'progress.read', progressLayout.key(stream, shardId));
    return item === undefined ? undefined : progressLayout.decode(item);
  }

  async raise(stream: string, target: ShardProgress): Promise<Conditional<ShardProgress>> {
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
    if (written.ok) return { ok: true, value: target };
    // Another writer is ahead in a field.
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

  async raiseWatermark(stream: string, watermark: EpochMs): Promise<EpochMs | null> {
    const written = await this.table.write(
      'watermark',
      'watermark.raise',
      watermarkLayout.key(stream),
      // The watermark it replaced comes back with the write (UPDATED_OLD): no extra request.
      { kind: 'update', update: { set: { [ATTR.watermark]: watermark } }, condition: or(attributeNotExists(ATTR.watermark), lessThan(ATTR.watermark, watermark)), returnOld: true },
      'ignore',
    );
    return written.ok ? watermarkLayout.decode(written.attributes) : null;
  }
}
