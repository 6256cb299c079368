import { randomUUID } from 'node:crypto';
import { isActive } from '../../core/state/outbox';
import type { AlertStorage, AlertWrite, Conditional, Versioned } from '../../core/state/StateStorage';
import type { AlertRecord } from '../../core/StateStore';
import { attributeNotExists, equals } from './expressions';
import { alertLayout, ATTR, type NativeItem } from './tableLayout';
import type { StateOperation, StateTable, WriteOutcome } from './StateTable';

const OPERATION: Readonly<Record<AlertWrite, StateOperation>> = { step: 'alert.record', confirm: 'alert.confirm', release: 'alert.release' };

/**
 * Alert state items: the lifecycle state of one (rule, group) and its outbox
 * of transitions recorded but not yet confirmed published. Every write puts
 * the whole item, conditioned on the version it was decided on.
 */
export class AlertRepository implements AlertStorage {
  constructor(private readonly table: StateTable) {}

  async read(rule: string, groupKey: string): Promise<Versioned<AlertRecord> | undefined> {
    const item = await this.table.get('alert', 'alert.read', alertLayout.key(rule, groupKey));
    return item ? versioned(item) : undefined;
  }

  /**
   * Ambiguous writes (issue 19): every put carries a random write id. When the outcome is unknown (a
   * timeout, a reset connection, a 5xx after the request was sent), the item is read back strongly
   * consistently: if it carries this write's id the write happened and the put succeeded, so the caller
   * goes on in the same invocation (publishing what it recorded) instead of leaving the transition to
   * the lease. The same holds when the SDK retried a put that had been applied: the retry's condition
   * fails on our own write, which the id recognises. Otherwise the original error is thrown.
   */
  async put(rule: string, groupKey: string, record: AlertRecord, expectedVersion: number | null, intent: AlertWrite): Promise<Conditional<Versioned<AlertRecord>>> {
    const version = (expectedVersion ?? 0) + 1;
    const writeId = randomUUID();
    const key = alertLayout.key(rule, groupKey);
    let written: WriteOutcome;
    try {
      written = await this.table.write(
        'alert',
        OPERATION[intent],
        key,
        {
          kind: 'put',
          item: alertLayout.encode(rule, groupKey, record, version, isActive(record), writeId),
          condition: expectedVersion === null ? attributeNotExists(ATTR.pk) : equals(ATTR.version, expectedVersion),
        },
        'current',
      );
    } catch (err) {
      let stored: NativeItem | undefined;
      try {
        stored = await this.table.get('alert', 'alert.read', key, true);
      } catch {
        throw err;
      }
      if (alertLayout.writeIdOf(stored) === writeId) return { ok: true, value: { value: record, version } };
      throw err;
    }
    if (written.ok || alertLayout.writeIdOf(written.current) === writeId) return { ok: true, value: { value: record, version } };
    return { ok: false, current: written.current === undefined ? undefined : versioned(written.current) };
  }

  async list(rule: string, activeOnly: boolean): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    const partition = alertLayout.partition(rule);
    const items = await this.table.query('alert', 'alert.list', partition, {
      keyCondition: equals(ATTR.pk, partition),
      ...(activeOnly ? { filter: equals(ATTR.active, true) } : {}),
      consistent: true,
    });
    return items.map((item) => {
      const a = alertLayout.decode(item);
      return { groupKey: a.groupKey, record: a.record };
    });
  }
}

function versioned(item: Parameters<typeof alertLayout.decode>[0]): Versioned<AlertRecord> {
  const a = alertLayout.decode(item);
  return { value: a.record, version: a.version };
}
