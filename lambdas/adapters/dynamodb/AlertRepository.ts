import { isActive } from '../../core/state/outbox';
import type { AlertStorage, AlertWrite, Conditional, Versioned } from '../../core/state/StateStorage';
import type { AlertRecord } from '../../core/StateStore';
import { attributeNotExists, equals } from './expressions';
import { alertLayout, ATTR } from './tableLayout';
import type { StateOperation, StateTable } from './StateTable';

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

  async put(rule: string, groupKey: string, record: AlertRecord, expectedVersion: number | null, intent: AlertWrite): Promise<Conditional<Versioned<AlertRecord>>> {
    const version = (expectedVersion ?? 0) + 1;
    const written = await this.table.write(
      'alert',
      OPERATION[intent],
      alertLayout.key(rule, groupKey),
      {
        kind: 'put',
        item: alertLayout.encode(rule, groupKey, record, version, isActive(record)),
        condition: expectedVersion === null ? attributeNotExists(ATTR.pk) : equals(ATTR.version, expectedVersion),
      },
      'current',
    );
    if (written.ok) return { ok: true, value: { value: record, version } };
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
