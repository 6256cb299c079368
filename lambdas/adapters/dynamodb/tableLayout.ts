import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall, type NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { MODEL_RETENTION_MS, type LearnedWindow, type ModelRecord } from '../../core/anomaly/rule';
import { TABLE } from '../../core/contract';
import { DEDUPE_BUCKET_MS, DEDUPE_ENTRY_BYTES, DedupeIds, dedupeSeqFingerprint, LEGACY_DEDUPE_ENTRY_BYTES, legacyFingerprint, parseDedupeId } from '../../core/dedupe';
import { TidewatchError } from '../../core/errors';
import { INITIAL_ALERT_STATE, type AlertState } from '../../core/lifecycle';
import type { PartialJson } from '../../core/partials';
import type { AlertRecord, KeyDescriptor, KeyState, MergedPanes, OutboxEntry, QuarantinedRecord, QuarantineReplayMark, SequenceRecord, Slot } from '../../core/StateStore';
import type { EpochMs, Rejection } from '../../core/types';
import type { ShardProgress } from '../../core/watermark';
import type { UpdateSpec } from './expressions';

/**
 * The layout of the state table, in one place: every item type, its keys and
 * its attribute names, and how each item is written and read. Nothing else
 * spells a key prefix or an attribute name (the linter refuses key-prefix
 * literals anywhere else). One table, generic keys (TABLE in contract.ts):
 *
 * | item             | pk                      | sk                                      |
 * |------------------|-------------------------|-----------------------------------------|
 * | aggregate key    | `K#<rule>#<group>`      | `W#<windowStart>` or `S` (session list) |
 * | alert state      | `A#<rule>`              | `<group>`                               |
 * | shard progress   | `P#<stream>`            | `<shardId>`                             |
 * | stream watermark | `WM#<stream>`           | `-`                                     |
 * | producer ids     | `D#<stream>#<shardId>`  | `<bucket start, epoch ms>#<chunk>`      |
 * | quarantine       | `Q#<stream>`            | `<arrival ISO>#<shard>#<seq>[#e<index>][#<chunk>]` |
 * | anomaly model    | `M#<rule>`              | `<group>`                               |
 * | sequence key     | `SQ#<rule>#<group>`     | `-`                                     |
 * | due bucket       | `U#<rule>`              | `<closeAt, 16 digits>#<start>#<end>#<writer>#<chunk>` |
 *
 * Group keys longer than 512 bytes are replaced by their SHA-256 in keys (the
 * full group key is an attribute). An aggregate key item holds, per shard,
 * `h_<shard>` (its high-water mark) and `p_<shard>` (its partial, JSON), and
 * keeps its close time in `closeAt` until finished. A fixed window's item is
 * found by the closer through its due bucket (dueLayout: the window's groups,
 * a string set, added to once per container and window instead of an index
 * entry written and removed per item); a session key, and a fixed window whose
 * group key or close time a bucket cannot hold, is in the due index (`duePk` =
 * `due#<rule>`, `closeAt`), as every aggregate item was before buckets.
 * A sequence key item holds the whole SequenceRecord (per-shard HWMs, the
 * matcher's state, unrecorded matches) as JSON in `seq`, and is in the due
 * index (`duePk` = `dueSQ#<rule>`, `closeAt` = its dueAt) while it has work
 * for the ticker.
 *
 * Sizes are counted in UTF-8 bytes, as DynamoDB counts them (dynalite counts
 * characters): keys are checked against DynamoDB's limits when they are
 * built, so an emulator refuses what DynamoDB would refuse.
 *
 * Adding an item type: a prefix in {@link ITEM_PREFIX}, its requests in
 * {@link OPERATIONS}, its attribute names in {@link ATTR}, and a layout object
 * next to the others below.
 */

/** An item as plain JavaScript values (what util-dynamodb's marshall/unmarshall convert). */
export type NativeItem = Record<string, NativeAttributeValue>;

export interface TableKey {
  readonly pk: string;
  readonly sk: string;
}

/** The partition key prefix of each item type. */
export const ITEM_PREFIX = {
  aggregate: 'K#',
  alert: 'A#',
  progress: 'P#',
  watermark: 'WM#',
  dedupe: 'D#',
  quarantine: 'Q#',
  /** Rule metrics: the groups admitted under a rule's cardinality cap, per hour (see MetricGroupRegistry.ts). */
  metricGroups: 'MG#',
  /** Anomaly models: one per (rule, group), written once per closed window (see core/anomaly/rule.ts). */
  model: 'M#',
  /** Sequence rules: the state of one key (rule, group). */
  sequence: 'SQ#',
  /** Due buckets: the groups of one fixed window of a rule whose items the closer is to close (dueLayout). */
  due: 'U#',
} as const;
export type ItemKind = keyof typeof ITEM_PREFIX;
export const ITEM_KINDS = Object.keys(ITEM_PREFIX) as ItemKind[];

/** The requests each item type's repository makes (what a request tag names, see StateTable.ts). */
export const OPERATIONS = {
  /**
   * windows: a group's fixed windows from the base table (strongly consistent); sealEmpty: the closed marker of a window judged empty; sealAndFinish: a quiet close (one write).
   * Hopping rules (core/panes.ts): paneApply: the one conditional write per pane touched per batch (on the item of the window the pane starts);
   * panes: a window's panes (one Query of the group's partition); register: the item of a window none of whose panes was written yet;
   * sealAt: a window sealed with the value it is evaluated on; fence: a batch's check of an older window its panes count in that it found closable.
   */
  aggregate: ['apply', 'lowerCloseAt', 'read', 'due', 'seal', 'finish', 'sealAndFinish', 'advanceSessions', 'list', 'windows', 'sealEmpty', 'register', 'paneApply', 'panes', 'sealAt', 'fence'],
  /** record: a lifecycle step and the transitions it records; confirm: published transitions leave the outbox; release: claims given up. */
  alert: ['read', 'record', 'confirm', 'release', 'list'],
  progress: ['read', 'raise', 'list'],
  watermark: ['read', 'raise'],
  dedupe: ['read', 'add'],
  /** markReplayed: `tidewatch quarantine replay` sent the record again. */
  quarantine: ['put', 'list', 'markReplayed'],
  /** read: the hour's admitted groups; admit: a conditional ADD of new ones while the set has room. */
  metricGroups: ['read', 'admit'],
  /** read: the model before a closed window is scored; learn: the conditional write of the window learned. */
  model: ['read', 'learn'],
  /** apply: the one conditional put per key touched per batch (or tick); due: the ticker's due-index query. */
  sequence: ['apply', 'read', 'due'],
  /** enlist: an ADD of groups to a container's own item of a window's bucket; list: the ticker's query of the buckets due; release: the delete of a bucket whose windows were closed. */
  due: ['enlist', 'list', 'release'],
} as const satisfies Record<ItemKind, readonly string[]>;
export type StateOperation = { [K in ItemKind]: `${K}.${(typeof OPERATIONS)[K][number]}` }[ItemKind];

/** Partition key prefix of the due index (one partition per rule). */
const DUE_PREFIX = 'due#';
/** Partition key prefix of sequence keys in the due index (one partition per rule). */
const SEQUENCE_DUE_PREFIX = 'dueSQ#';
const SEQUENCE_SK = '-';
const WINDOW_SK_PREFIX = 'W#';
const PANE_HWM_PREFIX = 'ph_';
const PANE_PARTIAL_PREFIX = 'pp_';
/** The pane item's version that the slot's last write produced. */
const PANE_VERSION_PREFIX = 'pv_';
const SESSION_SK = 'S';
const WATERMARK_SK = '-';
const HWM_PREFIX = 'h_';
const PARTIAL_PREFIX = 'p_';

/** Every attribute name of every item type. */
export const ATTR = {
  pk: TABLE.partitionKey,
  sk: TABLE.sortKey,
  /** TTL (epoch seconds). */
  expiresAt: TABLE.ttlAttribute,
  /** Incremented by every write of a versioned item (aggregate, alert, dedupe). */
  version: 'v',
  // aggregate keys (rule, groupKey, windowStart, windowEnd are projected into the due index: TABLE.dueIndexAttributes)
  rule: 'rule',
  groupKey: 'groupKey',
  windowStart: 'windowStart',
  windowEnd: 'windowEnd',
  duePk: TABLE.dueIndex.partitionKey,
  closeAt: TABLE.dueIndex.sortKey,
  closed: 'closed',
  closedThrough: 'closedThrough',
  /** A hopping window sealed with its value: the pane versions it merged (JSON, by pane start less the window's start). */
  mergedPanes: 'mp',
  // alert state (rule, groupKey too)
  state: 'state',
  outbox: 'outbox',
  active: 'active',
  /** A random id of the write that put the item: tells a writer whose response was lost whether its write happened (issue 19). */
  writeId: 'writeId',
  // shard progress and watermark
  maxEventTime: 'maxEventTime',
  lastActivity: 'lastActivity',
  watermark: 'watermark',
  // producer ids
  /** 12-byte entries (dedupe.ts, DEDUPE_ENTRY_BYTES): the chunks written now. */
  ids12: 'ids12',
  /** 18-byte entries on a chunk written before (LEGACY_DEDUPE_ENTRY_BYTES), JSON on an item of the layout before chunks: read only. */
  ids: 'ids',
  // quarantine
  data: 'data',
  reason: 'reason',
  message: 'message',
  shardId: 'shardId',
  sequenceNumber: 'sequenceNumber',
  partitionKey: 'partitionKey',
  arrivalTime: 'arrivalTime',
  chunks: 'chunks',
  /** A quarantined sub-event's index among its record's events (absent for a whole record). */
  subIndex: 'subIndex',
  /** Set by `tidewatch quarantine replay`: when (ISO), to which stream, the new sequence number, how many times. */
  replayedAt: 'replayedAt',
  replayedTo: 'replayedTo',
  replayedSequenceNumber: 'replayedSequenceNumber',
  replays: 'replays',
  // rule-metrics admissions
  /** The hashes of the groups admitted (a string set). */
  groupHashes: 'g',
  // anomaly models (rule, groupKey, state too)
  /** Start of the last window the model learned: the guard of its conditional write. */
  modelLast: 'last',
  detector: 'detector',
  /** The verdicts of the last windows learned: JSON on a model item, binary on an alert item (encodeRecent). */
  recent: 'recent',
  /** On an alert item (anomaly/rule.ts, modelInAlertRecord): the detector's serialised state (`state` is the alert's). */
  modelState: 'mstate',
  // sequence keys (rule, groupKey, version, duePk, closeAt too)
  /** The SequenceRecord, JSON. */
  sequence: 'seq',
  // due buckets (rule, windowStart, windowEnd, closeAt, version too)
  /** The group keys of the window's items (a string set). */
  members: 'm',
} as const;

/** DynamoDB's limits, in bytes. */
export const LIMITS = { partitionKeyBytes: 2048, sortKeyBytes: 1024, itemBytes: 400 * 1024 } as const;

/** A key or an item breaks one of DynamoDB's limits (in bytes): DynamoDB would refuse every request on it. */
export class StateLayoutError extends TidewatchError {}

export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function key(kind: ItemKind, pk: string, sk: string): TableKey {
  if (utf8Bytes(pk) > LIMITS.partitionKeyBytes) {
    throw new StateLayoutError(`state table: the ${kind} item's partition key is ${utf8Bytes(pk)} bytes; DynamoDB allows ${LIMITS.partitionKeyBytes} (${JSON.stringify(pk.slice(0, 60))}…)`);
  }
  if (utf8Bytes(sk) > LIMITS.sortKeyBytes) {
    throw new StateLayoutError(`state table: the ${kind} item's sort key is ${utf8Bytes(sk)} bytes; DynamoDB allows ${LIMITS.sortKeyBytes} (${JSON.stringify(sk.slice(0, 60))}…)`);
  }
  return { pk, sk };
}

/** Group keys can be long: past 512 bytes (UTF-8) keys use their hash. */
export function shortKey(groupKey: string): string {
  return utf8Bytes(groupKey) <= 512 ? groupKey : `h:${createHash('sha256').update(groupKey).digest('hex')}`;
}

/** The item type of a partition key (undefined: not a state item). */
export function kindOf(pk: string): ItemKind | undefined {
  // Longest prefix first (WM# before any shorter prefix that might be added).
  return [...ITEM_KINDS].sort((a, b) => ITEM_PREFIX[b].length - ITEM_PREFIX[a].length).find((k) => pk.startsWith(ITEM_PREFIX[k]));
}

/** The plain item of a DynamoDB item as the SDK returns it. */
export function fromAttributeValues(item: Record<string, AttributeValue>): NativeItem {
  return unmarshall(item);
}

const num = (v: NativeAttributeValue): number | null => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null);
const str = (v: NativeAttributeValue): string | null => (typeof v === 'string' ? v : null);

// ------------------------------------------------------------------ aggregate keys

/** The two attributes of one shard's slot on an aggregate key item. */
export function slotAttributes(shardId: string): { readonly hwm: string; readonly partial: string } {
  return { hwm: `${HWM_PREFIX}${shardId}`, partial: `${PARTIAL_PREFIX}${shardId}` };
}

/** The shard a slot's HWM attribute belongs to (undefined: not a slot attribute). */
export function slotShardOf(attribute: string): string | undefined {
  return attribute.startsWith(HWM_PREFIX) ? attribute.slice(HWM_PREFIX.length) : undefined;
}

/** What an aggregate key item says about itself: which key it is, and its state. */
export interface AggregateItem {
  readonly rule: string;
  readonly groupKey: string;
  /** Null for a session key. */
  readonly windowStart: EpochMs | null;
  readonly windowEnd: EpochMs | null;
  /** Not finished: the closer is to close it (through the due index or a due bucket). */
  readonly due: boolean;
  readonly state: KeyState;
}

export const aggregateLayout = {
  key(k: KeyDescriptor): TableKey {
    return key('aggregate', `${ITEM_PREFIX.aggregate}${k.rule}#${shortKey(k.groupKey)}`, k.windowStart === null ? SESSION_SK : `${WINDOW_SK_PREFIX}${k.windowStart}`);
  },
  /**
   * The sort-key range of a group's fixed windows starting after `after` (null: all of them), for a
   * query of the group's partition: `W#<start>` sorts by start while starts have 13 digits (2001 to
   * 2286); outside that, every window item of the group is read (the caller filters on windowStart).
   */
  windowsAfter(after: EpochMs | null): { readonly op: 'after'; readonly sk: string } | { readonly op: 'prefix'; readonly sk: string } {
    const sortable = after !== null && Number.isSafeInteger(after) && after >= 1e12 && after < 1e13;
    return sortable ? { op: 'after', sk: `${WINDOW_SK_PREFIX}${after}` } : { op: 'prefix', sk: WINDOW_SK_PREFIX };
  },
  /**
   * The closed marker of a fixed window judged empty (issue 19): the key's identity and `closed`, no
   * slot and no due index entry. A later slot write fails its `attribute_not_exists(closed)` condition,
   * so a record for the window counts as late like a record for any other closed window.
   */
  emptyMarker(k: KeyDescriptor, expiresAtSeconds: number): NativeItem {
    const key = aggregateLayout.key(k);
    return {
      [ATTR.pk]: key.pk,
      [ATTR.sk]: key.sk,
      [ATTR.rule]: k.rule,
      [ATTR.groupKey]: k.groupKey,
      [ATTR.windowStart]: k.windowStart,
      [ATTR.windowEnd]: k.windowEnd,
      [ATTR.closed]: true,
      [ATTR.version]: 1,
      [ATTR.expiresAt]: expiresAtSeconds,
    };
  },
  /** What every partition key of a rule's aggregate items begins with. */
  rulePrefix(rule: string): string {
    return `${ITEM_PREFIX.aggregate}${rule}#`;
  },
  /** The due index partition of a rule. */
  duePartition(rule: string): string {
    return `${DUE_PREFIX}${rule}`;
  },
  /**
   * The attributes every slot write sets besides the slot: the item's identity and, for an item the
   * closer does not find through a due bucket (dueLayout.holds), its due index entry.
   */
  identity(k: KeyDescriptor, expiresAtSeconds: number, closeAt: EpochMs | null): NativeItem {
    const out: NativeItem = { [ATTR.rule]: k.rule, [ATTR.groupKey]: k.groupKey, [ATTR.expiresAt]: expiresAtSeconds };
    if (closeAt === null || !dueLayout.holds(k, closeAt)) out[ATTR.duePk] = `${DUE_PREFIX}${k.rule}`;
    if (k.windowStart !== null) {
      out[ATTR.windowStart] = k.windowStart;
      out[ATTR.windowEnd] = k.windowEnd!;
    }
    return out;
  },
  /** The state of an aggregate key item. */
  state(item: NativeItem): KeyState {
    const slots: Record<string, Slot> = {};
    for (const [name, value] of Object.entries(item)) {
      const shard = slotShardOf(name);
      if (shard === undefined || typeof value !== 'string') continue;
      const p = item[slotAttributes(shard).partial];
      if (typeof p === 'string') slots[shard] = { hwm: value, partial: JSON.parse(p) as PartialJson };
    }
    const merged = mergedPanesOf(item);
    return {
      slots,
      closed: item[ATTR.closed] === true,
      closedThrough: num(item[ATTR.closedThrough]),
      closeAt: num(item[ATTR.closeAt]),
      version: num(item[ATTR.version]) ?? 0,
      ...(merged !== undefined ? { merged } : {}),
    };
  },
  /** The attribute of the pane versions a hopping window's value merged (core/panes.ts), by pane start less the window's. */
  mergedPanes(k: KeyDescriptor, merged: MergedPanes): NativeItem {
    const byOffset: Record<string, number> = {};
    for (const [start, version] of Object.entries(merged)) byOffset[String(Number(start) - k.windowStart!)] = version;
    return { [ATTR.mergedPanes]: JSON.stringify(byOffset) };
  },
  /** An aggregate key item (from a scan, a query or a due-index entry, whose projection has no slots). */
  decode(item: NativeItem): AggregateItem {
    return {
      rule: str(item[ATTR.rule]) ?? '',
      groupKey: str(item[ATTR.groupKey]) ?? '',
      windowStart: num(item[ATTR.windowStart]),
      windowEnd: num(item[ATTR.windowEnd]),
      // Due until finished: a finished window keeps no close time (in the due index or a due bucket before).
      due: item[ATTR.closeAt] !== undefined,
      state: aggregateLayout.state(item),
    };
  },
};

/** The pane versions a window item's value merged, by pane start (absent: not a window sealed with its value, or one sealed before they were kept). */
function mergedPanesOf(item: NativeItem): MergedPanes | undefined {
  const json = str(item[ATTR.mergedPanes]);
  const start = num(item[ATTR.windowStart]);
  if (json === null || start === null) return undefined;
  const out: Record<string, number> = {};
  for (const [offset, version] of Object.entries(JSON.parse(json) as Record<string, unknown>)) {
    if (typeof version !== 'number' || !Number.isFinite(Number(offset))) throw new StateLayoutError(`state table: window ${start} of ${String(item[ATTR.pk])} has a malformed ${ATTR.mergedPanes} (${json})`);
    out[String(start + Number(offset))] = version;
  }
  return out;
}

/**
 * Panes of hopping rules (core/panes.ts). Pane p is kept on the item of the window starting at p (the
 * newest window it is in, so the last to close): its per-shard slots are `ph_<shard>`/`pp_<shard>`
 * beside the window's own attributes, so a pane write is also the window's entry in the due index,
 * and a sealed window refuses its pane (every window of the pane is closed by then). A window sealed
 * for its close keeps its value as the slot `final` (`h_final`/`p_final`) and the versions of the pane
 * items it merged in `mp` (see aggregateLayout.mergedPanes).
 */
export const paneLayout = {
  /**
   * `version`: the item's version that the slot's last write produced (Slot.version), set by that
   * write from the version it raises (`SET v = if_not_exists(v, 0) + 1, pv_<shard> = if_not_exists(v, 0) + 1`:
   * both from the item as it was). Slots written before it was kept have none; a pv_ beside a partial without
   * the watermark `w` (the code before, after a rollback, rewrote the slot and left it) is not read.
   */
  slotAttributes(shardId: string): { readonly hwm: string; readonly partial: string; readonly version: string } {
    return { hwm: `${PANE_HWM_PREFIX}${shardId}`, partial: `${PANE_PARTIAL_PREFIX}${shardId}`, version: `${PANE_VERSION_PREFIX}${shardId}` };
  },
  /** The pane's state on its window's item: its slots, and the window's closed flag and version. */
  state(item: NativeItem): KeyState {
    const slots: Record<string, Slot> = {};
    for (const [name, value] of Object.entries(item)) {
      if (!name.startsWith(PANE_HWM_PREFIX) || typeof value !== 'string') continue;
      const attrs = paneLayout.slotAttributes(name.slice(PANE_HWM_PREFIX.length));
      const p = item[attrs.partial];
      if (typeof p !== 'string') continue;
      const version = item[attrs.version];
      if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version) || version < 1)) {
        throw new StateLayoutError(`state table: pane slot ${attrs.version} of ${String(item[ATTR.pk])} ${String(item[ATTR.sk])} is not a version (${JSON.stringify(version)})`);
      }
      const partial = JSON.parse(p) as PartialJson;
      // pv_ is trusted only beside a partial that carries the watermark (`w`, PanePartialJson): the code before
      // versions were kept (a rollback) rewrites the slot with `ADD v 1` and a partial without it, leaving a stale pv_.
      const trusted = version !== undefined && typeof partial === 'object' && partial !== null && 'w' in partial;
      const slot: Slot = { hwm: value, partial, ...(trusted ? { version } : {}) };
      slots[name.slice(PANE_HWM_PREFIX.length)] = slot;
    }
    return { slots, closed: item[ATTR.closed] === true, closedThrough: null, closeAt: num(item[ATTR.closeAt]), version: num(item[ATTR.version]) ?? 0 };
  },
};

// ------------------------------------------------------------------ alert state

export interface AlertItem {
  readonly rule: string;
  readonly groupKey: string;
  readonly version: number;
  readonly record: AlertRecord;
}

export const alertLayout = {
  key(rule: string, groupKey: string): TableKey {
    return key('alert', alertLayout.partition(rule), shortKey(groupKey));
  },
  partition(rule: string): string {
    return `${ITEM_PREFIX.alert}${rule}`;
  },
  encode(rule: string, groupKey: string, record: AlertRecord, version: number, active: boolean, writeId?: string): NativeItem {
    const k = alertLayout.key(rule, groupKey);
    return {
      ...(writeId !== undefined ? { [ATTR.writeId]: writeId } : {}),
      [ATTR.pk]: k.pk,
      [ATTR.sk]: k.sk,
      [ATTR.rule]: rule,
      [ATTR.groupKey]: groupKey,
      [ATTR.state]: JSON.stringify(record.state),
      [ATTR.outbox]: JSON.stringify(record.outbox),
      [ATTR.active]: active,
      [ATTR.version]: version,
      ...(record.model !== undefined
        ? { [ATTR.detector]: record.model.detector, [ATTR.modelState]: record.model.state, [ATTR.modelLast]: record.model.last, [ATTR.recent]: encodeRecent(record.model.recent) }
        : {}),
    };
  },
  /** The id of the write that put the item (undefined: written before issue 19, or by a tool). */
  writeIdOf(item: NativeItem | undefined): string | undefined {
    return item === undefined ? undefined : (str(item[ATTR.writeId]) ?? undefined);
  },
  decode(item: NativeItem): AlertItem {
    const state = str(item[ATTR.state]);
    const outbox = str(item[ATTR.outbox]);
    return {
      rule: str(item[ATTR.rule]) ?? '',
      groupKey: str(item[ATTR.groupKey]) ?? '',
      version: num(item[ATTR.version]) ?? 0,
      record: {
        state: state ? (JSON.parse(state) as AlertState) : INITIAL_ALERT_STATE,
        outbox: outbox ? (JSON.parse(outbox) as OutboxEntry[]) : [],
        // Absent on items written before the model moved into the alert record (and on other rules' items).
        ...(item[ATTR.modelState] !== undefined
          ? { model: { detector: str(item[ATTR.detector]) ?? '', state: str(item[ATTR.modelState]) ?? '', last: num(item[ATTR.modelLast]) ?? -1, recent: decodeRecent(item[ATTR.recent]) } }
          : {}),
      },
    };
  },
};

/**
 * The recent verdicts of a model kept in an alert item, as binary: per window 49 bytes (start,
 * value, score, expected, lower, upper as float64, big-endian, then 1 for warming or 0), 784 bytes
 * for the 16 a model keeps, where their JSON takes about 2.7 KB. The alert item is written on every
 * closed window and again on every confirmed publish, each write charged by the item's whole size
 * in 1 KB units (anomaly/rule.ts, modelInAlertRecord). Exact: the float64 is the number.
 */
const RECENT_ENTRY_BYTES = 49;

export function encodeRecent(recent: readonly LearnedWindow[]): Uint8Array {
  const out = new Uint8Array(recent.length * RECENT_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  recent.forEach((r, i) => {
    const o = i * RECENT_ENTRY_BYTES;
    const v = r.verdict;
    [r.start, r.value, v.score, v.expected, v.lower, v.upper].forEach((x, k) => view.setFloat64(o + 8 * k, x));
    view.setUint8(o + 48, v.warming ? 1 : 0);
  });
  return out;
}

export function decodeRecent(raw: NativeAttributeValue): LearnedWindow[] {
  if (!(raw instanceof Uint8Array) || raw.byteLength % RECENT_ENTRY_BYTES !== 0) {
    throw new StateLayoutError(`alert item: the anomaly model's recent verdicts are not ${RECENT_ENTRY_BYTES}-byte entries (${raw instanceof Uint8Array ? `${raw.byteLength} bytes` : typeof raw})`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: LearnedWindow[] = [];
  for (let o = 0; o < raw.byteLength; o += RECENT_ENTRY_BYTES) {
    const f = (k: number): number => view.getFloat64(o + 8 * k);
    out.push({ start: f(0), value: f(1), verdict: { score: f(2), expected: f(3), lower: f(4), upper: f(5), warming: view.getUint8(o + 48) === 1 } });
  }
  return out;
}

// ------------------------------------------------------------------ due buckets

/** A fixed window's due bucket (dueLayout): the groups whose item of the window the closer is to close. */
export interface DueBucketItem {
  readonly key: TableKey;
  readonly windowStart: EpochMs;
  readonly windowEnd: EpochMs;
  readonly closeAt: EpochMs;
  readonly members: readonly string[];
  readonly version: number;
}

/** Close times in a bucket's sort key: 16 digits, so that they sort as numbers (up to the year 318857). */
const DUE_CLOSE_DIGITS = 16;
/** What the sort key of a bucket of windows listed with no item starts with (dueLayout.key). */
const DUE_ITEMLESS_PREFIX = 'L';

/**
 * Due buckets (issue 21): how the closer finds the fixed windows it is to close, in place of an index
 * entry per window item (an item entered the due index on its first write and left it when finished:
 * two index writes per window and group). One bucket per (rule, window) holds the window's groups in
 * a string set (`m`): a container adds the groups it wrote the window for, once each (one `ADD` per
 * window and batch for all of them), the closer reads the buckets whose close time the watermark
 * passed (one strongly consistent Query of the rule's partition) and deletes a bucket once every
 * window in it is closed, if no group was added since it read it (its version). A bucket is one
 * item per container that wrote the window (`#<writer>#<chunk>` in its sort key: a random id per
 * container, then a chunk number), so a container adds to items only it writes: it counts their
 * groups itself (no condition, no contention), moves to its next chunk at {@link DUE_CHUNK_MEMBERS}
 * groups (of at most {@link DUE_MEMBER_BYTES} bytes: at most 100 KB an item), and sets each chunk's
 * version from its own counter, which only grows, so a closer that read a chunk before it was
 * deleted and written again cannot delete the new one on the old version. A small chunk also keeps
 * each `ADD` cheap: it is billed by the item's size.
 */
export const DUE_MEMBER_BYTES = 512;
/** Groups per chunk (the container moves on to its next chunk). */
export const DUE_CHUNK_MEMBERS = 200;
/** Groups per `ADD`. */
export const DUE_ENLIST_MAX = 100;

export const dueLayout = {
  /** True when the closer finds the item of `k` (closing at `closeAt`) through a due bucket; false: through the due index. */
  holds(k: KeyDescriptor, closeAt: EpochMs): boolean {
    return (
      k.windowStart !== null &&
      k.windowEnd !== null &&
      Number.isSafeInteger(k.windowStart) &&
      Number.isSafeInteger(k.windowEnd) &&
      Number.isSafeInteger(closeAt) &&
      closeAt >= 0 &&
      closeAt < 10 ** DUE_CLOSE_DIGITS &&
      utf8Bytes(k.groupKey) <= DUE_MEMBER_BYTES
    );
  },
  partition(rule: string): string {
    return `${ITEM_PREFIX.due}${rule}`;
  },
  /**
   * `writer`: the container's own id (its chunks are its own: no other writer adds to them).
   * `itemless`: a bucket of windows listed with no item (hopping windows of a group's first pane, see
   * StateStore.listWindow), its sort key after an `L`: the closer of the code before these listings
   * queries only keys that start with a digit, so it never meets a window it would judge empty for
   * having no item (its panes hold its value); the closer of this code queries both ranges.
   */
  key(rule: string, window: { readonly start: EpochMs; readonly end: EpochMs }, closeAt: EpochMs, writer: string, chunk: number, itemless = false): TableKey {
    return key('due', dueLayout.partition(rule), `${itemless ? DUE_ITEMLESS_PREFIX : ''}${String(closeAt).padStart(DUE_CLOSE_DIGITS, '0')}#${window.start}#${window.end}#${writer}#${chunk}`);
  },
  /** Whether a bucket's sort key is of windows listed with no item. */
  itemless(sk: string): boolean {
    return sk.startsWith(DUE_ITEMLESS_PREFIX);
  },
  /** The close time a bucket's sort key holds. */
  closeAtOf(sk: string): EpochMs {
    const from = dueLayout.itemless(sk) ? DUE_ITEMLESS_PREFIX.length : 0;
    const t = Number(sk.slice(from, from + DUE_CLOSE_DIGITS));
    if (!Number.isSafeInteger(t)) throw new StateLayoutError(`state table: due bucket sort key ${JSON.stringify(sk)} does not start with a close time`);
    return t;
  },
  /** The largest sort key of a bucket (of windows listed with no item: `itemless`) closing at or before `watermark` (null: none can). */
  upTo(watermark: EpochMs, itemless = false): string | null {
    if (!(watermark >= 0)) return null;
    const t = Math.min(Math.floor(watermark), 10 ** DUE_CLOSE_DIGITS - 1);
    // '$' sorts after '#': every bucket closing at t, whatever its window and chunk.
    return `${itemless ? DUE_ITEMLESS_PREFIX : ''}${String(t).padStart(DUE_CLOSE_DIGITS, '0')}$`;
  },
  /** The smallest sort key of a bucket of windows listed with no item. */
  itemlessFrom(): string {
    return DUE_ITEMLESS_PREFIX;
  },
  /** What an `ADD` to a bucket sets besides its groups (the bucket's identity and TTL). */
  identity(rule: string, window: { readonly start: EpochMs; readonly end: EpochMs }, closeAt: EpochMs, expiresAtSeconds: number): NativeItem {
    return { [ATTR.rule]: rule, [ATTR.windowStart]: window.start, [ATTR.windowEnd]: window.end, [ATTR.closeAt]: closeAt, [ATTR.expiresAt]: expiresAtSeconds };
  },
  decode(item: NativeItem): DueBucketItem {
    const start = num(item[ATTR.windowStart]);
    const end = num(item[ATTR.windowEnd]);
    const closeAt = num(item[ATTR.closeAt]);
    const members = item[ATTR.members];
    const pk = String(item[ATTR.pk]);
    const sk = String(item[ATTR.sk]);
    if (start === null || end === null || closeAt === null || !(members instanceof Set)) {
      throw new StateLayoutError(`state table: due bucket ${pk} ${sk} lacks its window, close time or groups`);
    }
    return { key: { pk, sk }, windowStart: start, windowEnd: end, closeAt, members: [...(members as Set<string>)], version: num(item[ATTR.version]) ?? 0 };
  },
};

// ------------------------------------------------------------------ sequence keys

export interface SequenceItem {
  readonly rule: string;
  readonly groupKey: string;
  readonly version: number;
  readonly record: SequenceRecord;
}

export const sequenceLayout = {
  key(rule: string, groupKey: string): TableKey {
    return key('sequence', `${ITEM_PREFIX.sequence}${rule}#${shortKey(groupKey)}`, SEQUENCE_SK);
  },
  duePartition(rule: string): string {
    return `${SEQUENCE_DUE_PREFIX}${rule}`;
  },
  encode(rule: string, groupKey: string, record: SequenceRecord, version: number, expiresAtSeconds: number): NativeItem {
    const k = sequenceLayout.key(rule, groupKey);
    return {
      [ATTR.pk]: k.pk,
      [ATTR.sk]: k.sk,
      [ATTR.rule]: rule,
      [ATTR.groupKey]: groupKey,
      [ATTR.sequence]: JSON.stringify(record),
      [ATTR.version]: version,
      [ATTR.expiresAt]: expiresAtSeconds,
      // Out of the due index when the key has nothing for the ticker.
      ...(record.dueAt === null ? {} : { [ATTR.duePk]: sequenceLayout.duePartition(rule), [ATTR.closeAt]: record.dueAt }),
    };
  },
  decode(item: NativeItem): SequenceItem {
    const json = str(item[ATTR.sequence]);
    return {
      rule: str(item[ATTR.rule]) ?? '',
      groupKey: str(item[ATTR.groupKey]) ?? '',
      version: num(item[ATTR.version]) ?? 0,
      record: json ? (JSON.parse(json) as SequenceRecord) : { hwms: {}, state: { w: null, q: [], p: [] }, out: [], ordinal: 0, dueAt: null },
    };
  },
  /** A due-index entry (projected: rule, groupKey, closeAt). */
  decodeDue(item: NativeItem): { groupKey: string; dueAt: EpochMs } {
    return { groupKey: str(item[ATTR.groupKey]) ?? '', dueAt: num(item[ATTR.closeAt]) ?? 0 };
  },
};

// ------------------------------------------------------------------ shard progress and stream watermark

export const progressLayout = {
  key(stream: string, shardId: string): TableKey {
    return key('progress', progressLayout.partition(stream), shardId);
  },
  partition(stream: string): string {
    return `${ITEM_PREFIX.progress}${stream}`;
  },
  decode(item: NativeItem): ShardProgress {
    return {
      shardId: str(item[ATTR.sk]) ?? '',
      maxEventTime: num(item[ATTR.maxEventTime]) ?? -Infinity,
      lastActivity: num(item[ATTR.lastActivity]) ?? -Infinity,
    };
  },
};

export const watermarkLayout = {
  key(stream: string): TableKey {
    return key('watermark', `${ITEM_PREFIX.watermark}${stream}`, WATERMARK_SK);
  },
  decode(item: NativeItem | undefined): EpochMs {
    return (item && num(item[ATTR.watermark])) ?? -Infinity;
  },
};

// ------------------------------------------------------------------ producer ids

export interface DedupeItem {
  readonly ids: DedupeIds;
  readonly bytes: number;
  /** The highest chunk number of the bucket (0: no chunk, only perhaps an item of the layout before chunks). */
  readonly version: number;
}

/** The event time a bucket spanned before 5-second buckets (a second): such items are read with the bucket that spans them. */
const LEGACY_DEDUPE_BUCKET_MS = 1000;

/** Chunk numbers in sort keys are zero-padded to this many digits (so they sort as numbers). */
const DEDUPE_CHUNK_DIGITS = 6;
const DEDUPE_CHUNK_SEPARATOR = '#';
/** Bytes of the id hash in an entry (the rest is the fingerprint): 12-byte entries, 18-byte ones. */
const DEDUPE_ID_BYTES = 8;
const LEGACY_DEDUPE_ID_BYTES = 12;

/**
 * Producer ids, per shard and 5 seconds of event time (a bucket, DEDUPE_BUCKET_MS), as chunks:
 * each batch that records new ids of a bucket puts one new item holding only
 * those ids (`<bucket>#<chunk>`, numbered from 1), on the condition that the
 * chunk does not exist yet. The chunk number is the bucket's version: a
 * writer that knows chunks 1..v writes v+1, and it fails exactly when someone
 * else wrote v+1 first (no one writes v+2 without having seen v+1), so every
 * decision is made on the whole bucket, as when the bucket was one item
 * rewritten on its version. But a write is billed on the new ids only, not on
 * all the bucket holds.
 *
 * Ids are binary, in attribute `ids12`: per id 8 bytes of its hash and 4 of
 * its sequence number's (DEDUPE_ENTRY_BYTES, dedupe.ts). Still read, mixed in
 * one bucket with those, until their TTL drops them:
 * - chunks written before, whose attribute `ids` holds 18-byte entries (12
 *   bytes of id hash, 6 of fingerprint): read as 12-byte entries, keeping the
 *   first 8 bytes of the id and the first 4 of the fingerprint (the same bits
 *   a 12-byte entry holds for the same id and sequence number, dedupe.ts);
 * - an item of the layout before chunks (sk `<bucket>`, `ids` a JSON string of
 *   id -> whole sequence number), as chunk 0.
 * The attribute tells the formats apart, not the length (36 bytes are three
 * 12-byte entries or two 18-byte ones), and a container of the code before
 * finds no `ids` on a new chunk: it reads it as holding no ids (it misses
 * those duplicates, it never takes a 12-byte entry for an 18-byte one).
 *
 * Buckets were one second before (a batch of 1,000 records wrote about five
 * chunks, one per second its event times spread over; issue 21). The items of
 * those seconds (`<second>`, `<second>#<chunk>`) sort between a 5-second
 * bucket's first key and its last second's, so one Query (a BETWEEN on the
 * sort key) reads them with the bucket's chunks, until their TTL drops them.
 * A bucket's version is the highest chunk number under its own key (`<bucket>#`,
 * which its first second's one-second chunks share: numbered on from them),
 * so chunk numbers stay without gaps and the chunk a writer writes is taken
 * exactly when another wrote on the same version first (the code before
 * numbers the same second's chunks the same way). A container of the code
 * before reads only its second's keys: it misses the ids filed in 5-second
 * chunks (a producer duplicate of such an id is counted again; no event is
 * lost).
 */
export const dedupeLayout = {
  partition(stream: string, shardId: string): string {
    return `${ITEM_PREFIX.dedupe}${stream}#${shardId}`;
  },
  /** The key of a bucket's chunk (1, 2, ...; 0 is the key of the layout before chunks). */
  chunkKey(stream: string, shardId: string, bucket: number, chunk: number): TableKey {
    if (!Number.isInteger(chunk) || chunk < 0 || chunk >= 10 ** DEDUPE_CHUNK_DIGITS) throw new StateLayoutError(`state table: dedupe bucket ${bucket} of ${shardId} cannot take chunk ${chunk}`);
    const sk = chunk === 0 ? String(bucket) : `${bucket}${DEDUPE_CHUNK_SEPARATOR}${String(chunk).padStart(DEDUPE_CHUNK_DIGITS, '0')}`;
    return key('dedupe', dedupeLayout.partition(stream, shardId), sk);
  },
  /**
   * The sort keys a bucket's items may have: its chunks (`<bucket>#<chunk>`) and those of the seconds
   * it spans as the layout of one-second buckets filed them (`<second>`, `<second>#<chunk>`), as one
   * range. It holds other keys too (of longer numbers: `50000` sorts between `5000` and `9000`), which
   * ofBucket leaves out. Its ends have as many digits (a multiple of 5,000 and that plus 4,000 do); a
   * negative event time's bucket (strings sort the other way) reads only its own keys.
   */
  bucketSortKeys(bucket: number): { readonly between: readonly [string, string] } | { readonly prefix: string } {
    const low = String(bucket);
    const last = String(bucket + DEDUPE_BUCKET_MS - LEGACY_DEDUPE_BUCKET_MS);
    if (bucket < 0 || last.length !== low.length) return { prefix: low };
    // '~' sorts after the separator and every digit: the last second's chunks are all below it.
    return { between: [low, `${last}${DEDUPE_CHUNK_SEPARATOR}~`] };
  },
  /** Whether an item of the partition belongs to the bucket (its chunks, its seconds' items of one-second buckets, or of the layout before chunks). */
  ofBucket(item: NativeItem, bucket: number): boolean {
    const sk = str(item[ATTR.sk]) ?? '';
    const hash = sk.indexOf(DEDUPE_CHUNK_SEPARATOR);
    const head = hash < 0 ? sk : sk.slice(0, hash);
    const t = Number(head);
    if (head === '' || String(t) !== head || !Number.isInteger(t)) return false;
    return t >= bucket && t < bucket + DEDUPE_BUCKET_MS && (t - bucket) % LEGACY_DEDUPE_BUCKET_MS === 0;
  },
  /**
   * A chunk item holding `ids` (id hash -> sequence number fingerprint, see dedupe.ts), or its entries
   * from..to-1: per id its 8 bytes, then the fingerprint's 4, big-endian, in `ids12`.
   */
  encodeChunk(k: TableKey, ids: DedupeIds, expiresAtSeconds: number, from = 0, to = ids.size): NativeItem {
    const bytes = new Uint8Array((to - from) * DEDUPE_ENTRY_BYTES);
    const view = new DataView(bytes.buffer);
    const words = ids.idWords();
    for (let e = from, o = 0; e < to; e++, o += DEDUPE_ENTRY_BYTES) {
      view.setUint32(o, words[2 * e]!);
      view.setUint32(o + 4, words[2 * e + 1]!);
      // (a 32-bit unsigned integer: DedupeIds holds no other)
      view.setUint32(o + DEDUPE_ID_BYTES, ids.fingerprintAt(e));
    }
    return { [ATTR.pk]: k.pk, [ATTR.sk]: k.sk, [ATTR.ids12]: bytes, [ATTR.expiresAt]: expiresAtSeconds };
  },
  /**
   * A bucket from its items (chunks of either format in any order, and perhaps
   * the item of the layout before chunks). Its bytes are those of the entries
   * kept, each counted in the format it is stored in (12 or 18; an entry of the
   * layout before chunks as 18, as it counted before 12-byte entries), so the
   * cap on a bucket (DEDUPE_MAX_BUCKET_BYTES) bounds what is read of it.
   */
  decodeBucket(items: readonly NativeItem[], bucket?: number): DedupeItem {
    let entries = 0;
    for (const item of items) {
      const raw = item[ATTR.ids12];
      const legacy = item[ATTR.ids];
      if (raw instanceof Uint8Array) entries += Math.floor(raw.byteLength / DEDUPE_ENTRY_BYTES);
      if (legacy instanceof Uint8Array) entries += Math.floor(legacy.byteLength / LEGACY_DEDUPE_ENTRY_BYTES);
    }
    const ids = new DedupeIds(entries);
    const id = new Uint32Array(2);
    let bytes = 0;
    let version = 0;
    for (const item of items) {
      const sk = str(item[ATTR.sk]) ?? '';
      const hash = sk.indexOf(DEDUPE_CHUNK_SEPARATOR);
      const legacy = item[ATTR.ids];
      if (hash < 0) {
        // The layout before chunks: one JSON attribute of id -> whole sequence number. Its ids were
        // compared as strings with dedupeId's 16 base64url characters: one that is not such a string
        // never matched any id, so it is left out; one that is, is kept as its first 64 bits.
        for (const [key, seq] of Object.entries(JSON.parse(typeof legacy === 'string' ? legacy : '{}') as Record<string, string>)) {
          if (parseDedupeId(key, id, 0) && ids.add(id, 0, dedupeSeqFingerprint(seq)) < 0) bytes += LEGACY_DEDUPE_ENTRY_BYTES;
        }
        continue;
      }
      // The version: the highest chunk number under the bucket's own key (the one-second items of its other
      // seconds number their chunks apart; counting them would leave gaps a writer with an older version could
      // fill without a conflict, in a rollout overlap where the code before still writes them).
      if (bucket === undefined || sk.slice(0, hash) === String(bucket)) version = Math.max(version, Number(sk.slice(hash + 1)));
      // Chunks only add ids no earlier chunk holds; should two hold one (or two ids of an 18-byte chunk
      // share their first 64 bits), the first recorded is kept.
      const raw = item[ATTR.ids12];
      if (raw instanceof Uint8Array) {
        const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        for (let o = 0; o + DEDUPE_ENTRY_BYTES <= raw.byteLength; o += DEDUPE_ENTRY_BYTES) {
          id[0] = view.getUint32(o);
          id[1] = view.getUint32(o + 4);
          if (ids.add(id, 0, view.getUint32(o + DEDUPE_ID_BYTES)) < 0) bytes += DEDUPE_ENTRY_BYTES;
        }
      }
      if (legacy instanceof Uint8Array) {
        // An 18-byte chunk: the id's first 8 bytes (its last 4 are not kept) and the first 4 of the
        // 6-byte fingerprint (legacyFingerprint of the 48 bits, exactly: the low 16 are dropped).
        const view = new DataView(legacy.buffer, legacy.byteOffset, legacy.byteLength);
        for (let o = 0; o + LEGACY_DEDUPE_ENTRY_BYTES <= legacy.byteLength; o += LEGACY_DEDUPE_ENTRY_BYTES) {
          id[0] = view.getUint32(o);
          id[1] = view.getUint32(o + 4);
          const f48 = view.getUint32(o + LEGACY_DEDUPE_ID_BYTES) * 0x10000 + view.getUint16(o + LEGACY_DEDUPE_ID_BYTES + 4);
          if (ids.add(id, 0, legacyFingerprint(f48)) < 0) bytes += LEGACY_DEDUPE_ENTRY_BYTES;
        }
      }
    }
    return { ids, bytes, version };
  },
};

// ------------------------------------------------------------------ rule-metrics admissions

export const metricGroupsLayout = {
  /** One item per rule and hour of event time (the hour's start). */
  key(rule: string, hour: EpochMs): TableKey {
    return key('metricGroups', `${ITEM_PREFIX.metricGroups}${rule}`, new Date(hour).toISOString());
  },
  /** The admitted group hashes of an item (empty when there is none). */
  decode(item: NativeItem | undefined): Set<string> {
    const g = item?.[ATTR.groupHashes];
    return g instanceof Set ? new Set([...g].map(String)) : new Set();
  },
};

// ------------------------------------------------------------------ anomaly models

export { MODEL_RETENTION_MS };

export const modelLayout = {
  key(rule: string, groupKey: string): TableKey {
    return key('model', `${ITEM_PREFIX.model}${rule}`, shortKey(groupKey));
  },
  encode(rule: string, groupKey: string, m: ModelRecord): NativeItem {
    const k = modelLayout.key(rule, groupKey);
    return {
      [ATTR.pk]: k.pk,
      [ATTR.sk]: k.sk,
      [ATTR.rule]: rule,
      [ATTR.groupKey]: groupKey,
      [ATTR.detector]: m.detector,
      [ATTR.state]: m.state,
      [ATTR.modelLast]: m.last,
      [ATTR.recent]: JSON.stringify(m.recent),
      [ATTR.expiresAt]: Math.ceil((m.last + MODEL_RETENTION_MS) / 1000),
    };
  },
  decode(item: NativeItem): { rule: string; groupKey: string; record: ModelRecord } {
    return {
      rule: str(item[ATTR.rule]) ?? '',
      groupKey: str(item[ATTR.groupKey]) ?? '',
      record: {
        detector: str(item[ATTR.detector]) ?? '',
        state: str(item[ATTR.state]) ?? '',
        last: num(item[ATTR.modelLast]) ?? -1,
        recent: JSON.parse(str(item[ATTR.recent]) ?? '[]') as LearnedWindow[],
      },
    };
  },
};

// ------------------------------------------------------------------ quarantine

/** A quarantined record's data is split into chunks of at most this many bytes, well under the 400 KB item limit. */
export const QUARANTINE_CHUNK_BYTES = 300 * 1024;

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  if (text === '') return [''];
  // Base64 (what Kinesis records carry) is ASCII: characters are bytes (and only then are there as many bytes as characters).
  if (utf8Bytes(text) === text.length) {
    const out: string[] = [];
    for (let i = 0; i < text.length; i += maxBytes) out.push(text.slice(i, i + maxBytes));
    return out;
  }
  const out: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const b = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + b > maxBytes) {
      out.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += b;
    i += units;
  }
  out.push(text.slice(start));
  return out;
}

export const quarantineLayout = {
  partition(stream: string): string {
    return `${ITEM_PREFIX.quarantine}${stream}`;
  },
  /** `tidewatch quarantine replay` sent the record again: when, where, as what (counted). */
  replayMark(mark: Omit<QuarantineReplayMark, 'count'>): UpdateSpec {
    return { set: { [ATTR.replayedAt]: mark.at, [ATTR.replayedTo]: mark.to, [ATTR.replayedSequenceNumber]: mark.sequenceNumber }, add: { [ATTR.replays]: 1 } };
  },
  /** The lowest sort key of records that arrived at or after `time`. */
  since(time: EpochMs): string {
    return new Date(time).toISOString();
  },
  /** The key of a record's first item (the one holding its metadata). */
  recordKey(stream: string, r: Pick<Rejection, 'arrivalTime' | 'shardId' | 'sequenceNumber' | 'index'>): TableKey {
    // A sub-event of a record (KPL user record, log event, line) is filed under its record and index.
    return key('quarantine', quarantineLayout.partition(stream), `${new Date(r.arrivalTime).toISOString()}#${r.shardId}#${r.sequenceNumber}${r.index === undefined ? '' : `#e${r.index}`}`);
  },
  /** The items of one record: the first holds the metadata, every one a chunk of the data. */
  encode(stream: string, r: Rejection, expiresAtSeconds: number, chunkBytes = QUARANTINE_CHUNK_BYTES): NativeItem[] {
    const chunks = splitUtf8(r.data, chunkBytes);
    const sk = quarantineLayout.recordKey(stream, r).sk;
    return chunks.map((data, i) => {
      const k = key('quarantine', quarantineLayout.partition(stream), i === 0 ? sk : `${sk}#${i}`);
      const item: NativeItem = { [ATTR.pk]: k.pk, [ATTR.sk]: k.sk, [ATTR.data]: data, [ATTR.expiresAt]: expiresAtSeconds };
      if (i === 0) {
        Object.assign(item, {
          [ATTR.reason]: r.reason,
          [ATTR.message]: r.message,
          [ATTR.shardId]: r.shardId,
          [ATTR.sequenceNumber]: r.sequenceNumber,
          [ATTR.partitionKey]: r.partitionKey,
          [ATTR.arrivalTime]: r.arrivalTime,
          [ATTR.chunks]: chunks.length,
          ...(r.index === undefined ? {} : { [ATTR.subIndex]: r.index }),
        });
      }
      return item;
    });
  },
  /** The records of a partition's items (their chunks joined), in sort key order. */
  decode(stream: string, items: readonly NativeItem[]): QuarantinedRecord[] {
    const chunks = new Map<string, string>();
    for (const item of items) chunks.set(String(item[ATTR.sk]), String(item[ATTR.data] ?? ''));
    const out: QuarantinedRecord[] = [];
    for (const item of items) {
      if (item[ATTR.reason] === undefined) continue; // a continuation chunk
      const sk = String(item[ATTR.sk]);
      const n = num(item[ATTR.chunks]) ?? 1;
      let data = String(item[ATTR.data] ?? '');
      for (let i = 1; i < n; i++) {
        const part = chunks.get(`${sk}#${i}`);
        if (part === undefined) throw new StateLayoutError(`quarantined record ${sk} of ${stream} is missing chunk ${i} of ${n}`);
        data += part;
      }
      out.push({
        stream,
        reason: String(item[ATTR.reason]) as Rejection['reason'],
        message: String(item[ATTR.message] ?? ''),
        shardId: String(item[ATTR.shardId] ?? ''),
        sequenceNumber: String(item[ATTR.sequenceNumber] ?? ''),
        partitionKey: String(item[ATTR.partitionKey] ?? ''),
        arrivalTime: num(item[ATTR.arrivalTime]) ?? 0,
        data,
        ...(item[ATTR.subIndex] === undefined ? {} : { index: num(item[ATTR.subIndex])! }),
        ...(item[ATTR.replayedAt] === undefined
          ? {}
          : {
              replayed: {
                at: String(item[ATTR.replayedAt]),
                to: String(item[ATTR.replayedTo] ?? stream),
                sequenceNumber: String(item[ATTR.replayedSequenceNumber] ?? ''),
                count: num(item[ATTR.replays]) ?? 1,
              },
            }),
      });
    }
    return out;
  },
};

// ------------------------------------------------------------------ sizes

/**
 * An item's size as DynamoDB counts it: attribute names and values in UTF-8
 * bytes; a number about one byte per two significant digits plus one; a
 * boolean or null one byte; a list or map 3 bytes plus its elements (and
 * their names).
 */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let n = 0;
  for (const [name, v] of Object.entries(item)) n += utf8Bytes(name) + valueBytes(v);
  return n;
}

function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return utf8Bytes(v.S);
  if (v.N !== undefined) return numberBytes(v.N);
  if (v.B !== undefined) return v.B.byteLength;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS !== undefined) return v.SS.reduce((s, x) => s + utf8Bytes(x), 0);
  if (v.NS !== undefined) return v.NS.reduce((s, x) => s + numberBytes(x), 0);
  if (v.BS !== undefined) return v.BS.reduce((s, x) => s + x.byteLength, 0);
  if (v.L !== undefined) return 3 + v.L.reduce((s, x) => s + 1 + valueBytes(x), 0);
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((s, [k, x]) => s + 1 + utf8Bytes(k) + valueBytes(x), 0);
  return 0;
}

function numberBytes(n: string): number {
  const digits = n.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}
