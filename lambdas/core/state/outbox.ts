import type { ModelRecord } from '../anomaly/rule';
import type { AlertState, AlertTransition } from '../lifecycle';
import type { AlertRecord, AlertStep, Claim, KnownAlert, OutboxEntry, StateStore } from '../StateStore';
import type { EpochMs } from '../types';

/**
 * The outbox protocol of alert transitions, in one place:
 *
 * 1. A lifecycle step and the transitions it produces are recorded in one
 *    conditional write of the alert item, before anyone publishes them
 *    (StateProtocol.updateAlert, deciding with {@link recordStep}). The writer
 *    claims them for a lease; entries whose lease expired (their publisher
 *    crashed or failed) are claimed again in the same write.
 * 2. The claimer publishes what it claimed ({@link recordAndPublish}), then
 *    confirms it (the entries leave the outbox), or, when the publish failed,
 *    releases the claims so that a retry may publish at once.
 * 3. A crash anywhere leaves the entries recorded: the next step on the item
 *    after the lease republishes the same transition id.
 */

/** True when some entry's claim has expired at `now`: a step on the item would claim it. */
export function hasClaimable(outbox: readonly OutboxEntry[], now: EpochMs): boolean {
  return outbox.some((o) => o.claimedUntil <= now);
}

/**
 * What a lifecycle step makes of a record: the record to write and the
 * transitions the writer claims (its own, and those whose claim expired),
 * or null when nothing changes and nothing is claimable (nothing is written).
 */
export function recordStep(
  record: AlertRecord,
  step: AlertStep,
  claim: Claim,
  /** The anomaly model the step learns from when the record holds none (the old model item: StateStore.updateAlert). */
  fallbackModel?: ModelRecord,
): { next: AlertRecord; claimed: AlertTransition[] } | null {
  const model = record.model ?? fallbackModel;
  const r = step(record.state, model);
  const until = claim.now + claim.leaseMs;
  const expired = record.outbox.filter((o) => o.claimedUntil <= claim.now);
  // The model the record keeps after the step: a learned one moves into the record (from the old model item too).
  const nextModel = r.model === undefined ? record.model : (r.model ?? undefined);
  if (r.transitions.length === 0 && expired.length === 0 && sameState(r.state, record.state) && nextModel === record.model) return null;
  const next: AlertRecord = {
    state: r.state,
    outbox: [
      ...record.outbox.map((o) => (o.claimedUntil <= claim.now ? { ...o, claimedUntil: until } : o)),
      ...r.transitions.map((transition) => ({ transition, claimedUntil: until })),
    ],
    ...(nextModel !== undefined ? { model: nextModel } : {}),
  };
  return { next, claimed: [...expired.map((o) => o.transition), ...r.transitions] };
}

/** The outbox without the published transitions. */
export function withoutPublished(outbox: readonly OutboxEntry[], transitionIds: readonly string[]): OutboxEntry[] {
  const done = new Set(transitionIds);
  return outbox.filter((o) => !done.has(o.transition.transitionId));
}

/** The outbox with these transitions' claims given up (claimable by anyone at once). */
export function withReleased(outbox: readonly OutboxEntry[], transitionIds: readonly string[]): OutboxEntry[] {
  const ids = new Set(transitionIds);
  return outbox.map((o) => (ids.has(o.transition.transitionId) ? { ...o, claimedUntil: 0 } : o));
}

/** An alert item is listed as active while its group is pending or firing or it holds unpublished transitions. */
export function isActive(record: AlertRecord): boolean {
  return record.state.status !== 'inactive' || record.outbox.length > 0;
}

export function sameOutbox(a: readonly OutboxEntry[], b: readonly OutboxEntry[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function sameState(a: AlertState, b: AlertState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Applies a lifecycle step (recording its transitions), publishes what this
 * call claimed, and confirms it. A failed publish releases the claims and
 * throws: the transitions stay recorded and the retry publishes them.
 * Returns the transitions published.
 */
export async function recordAndPublish(
  store: StateStore,
  rule: string,
  groupKey: string,
  step: AlertStep,
  claim: Claim,
  publish: (transition: AlertTransition) => Promise<void>,
  /** The record as the caller just read it (StateStore.updateAlert). */
  known?: KnownAlert | null,
  /** The step learns the anomaly model the record keeps (StateStore.updateAlert). */
  opts?: { readonly model?: boolean },
): Promise<AlertTransition[]> {
  const { claimed } = await store.updateAlert(rule, groupKey, step, claim, known, opts);
  if (claimed.length === 0) return [];
  const ids = claimed.map((t) => t.transitionId);
  try {
    for (const t of claimed) await publish(t);
  } catch (err) {
    await store.releaseClaims(rule, groupKey, ids);
    throw err;
  }
  await store.confirmPublished(rule, groupKey, ids);
  return [...claimed];
}
