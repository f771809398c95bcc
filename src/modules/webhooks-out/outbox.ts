import type { Queryable } from '../../db/db.ts';
import { newId } from '../../domain/ids.ts';

export { OUTBOX_EVENT_TYPES } from '../../domain/webhook-events.ts';
import type { OUTBOX_EVENT_TYPES } from '../../domain/webhook-events.ts';

export type OutboxEventType = (typeof OUTBOX_EVENT_TYPES)[number];

/** High-volume events an endpoint receives only when it names them (never through `*`). */
export const OPT_IN_EVENT_TYPES: readonly OutboxEventType[] = ['credits.deducted'];

/**
 * Records an event for the app's webhook endpoints in the caller's transaction, so the change
 * and its notification commit together; the background runner delivers it.
 */
export async function emit(
  q: Queryable,
  e: { projectId: string; type: OutboxEventType; customerId?: string | null; data: Record<string, unknown>; at: Date },
): Promise<string> {
  const id = newId('outbox');
  await q.query(
    `INSERT INTO outbox_events (id, project_id, type, customer_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      id,
      e.projectId,
      e.type,
      e.customerId ?? null,
      JSON.stringify({ type: e.type, customer_id: e.customerId ?? null, data: e.data }),
      e.at,
    ],
  );
  return id;
}
