import type { ModelRecord } from '../../core/anomaly/rule';
import type { Conditional, ModelStorage } from '../../core/state/StateStorage';
import { attributeNotExists, equals } from './expressions';
import { ATTR, modelLayout } from './tableLayout';
import type { StateTable } from './StateTable';

/**
 * Anomaly model items: one per (rule, group), put whole once per closed
 * window, conditioned on the `last` window the step read (absent: no item
 * yet). A second attempt at a window already learned fails the condition
 * and hands back the stored item (see core/anomaly/rule.ts).
 */
export class ModelRepository implements ModelStorage {
  constructor(private readonly table: StateTable) {}

  async read(rule: string, groupKey: string): Promise<ModelRecord | undefined> {
    const item = await this.table.get('model', 'model.read', modelLayout.key(rule, groupKey));
    return item ? modelLayout.decode(item).record : undefined;
  }

  async put(rule: string, groupKey: string, record: ModelRecord, expectedLast: number | null): Promise<Conditional<ModelRecord>> {
    const written = await this.table.write(
      'model',
      'model.learn',
      modelLayout.key(rule, groupKey),
      {
        kind: 'put',
        item: modelLayout.encode(rule, groupKey, record),
        condition: expectedLast === null ? attributeNotExists(ATTR.pk) : equals(ATTR.modelLast, expectedLast),
      },
      'current',
    );
    if (written.ok) return { ok: true, value: record };
    return { ok: false, current: written.current === undefined ? undefined : modelLayout.decode(written.current).record };
  }
}
