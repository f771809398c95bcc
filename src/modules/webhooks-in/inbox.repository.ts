import { claimDue, } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface InboxRow {
  id: string;
  project_id: string;
  provider: string;
  event_id: string;
  type: string;
  payload: unknown;
  status: 'pending' | 'processed' | 'failed' | 'ignored';
  attempts: number;
  last_error: string | null;
  occurred_at: Date | null;
  received_at: Date;
  processed_at: Date | null;
  next_attempt_at: Date | null;
}

/** Stores a verified event once; a duplicate returns the existing row's id. */
export async function insertEvent(
  q: Queryable,
  e: { id: string; projectId: string; provider: string; eventId: string; type: string; payload: unknown; occurredAt: Date | null; at: Date; retryAt: Date },
): Promise<{ id: string; inserted: boolean; status: InboxRow['status'] }> {
  const r = await q.query<{ id: string; status: InboxRow['status'] }>(
    `INSERT INTO provider_events (id, project_id, provider, event_id, type, payload, status, occurred_at, received_at, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9)
     ON CONFLICT (project_id, provider, event_id) DO NOTHING RETURNING id, status`,
    [e.id, e.projectId, e.provider, e.eventId, e.type, JSON.stringify(e.payload), e.occurredAt, e.at, e.retryAt],
  );
  if (r.rows[0]) return { id: r.rows[0].id, inserted: true, status: r.rows[0].status };
  const existing = await q.query<{ id: string; status: InboxRow['status'] }>(
    'SELECT id, status FROM provider_events WHERE project_id = $1 AND provider = $2 AND event_id = $3',
    [e.projectId, e.provider, e.eventId],
  );
  const row = existing.rows[0];
  if (!row) throw new Error('inbox conflict without a row');
  return { id: row.id, inserted: false, status: row.status };
}

export async function lockEvent(q: Queryable, id: string): Promise<InboxRow | undefined> {
  return (await q.query<InboxRow>('SELECT * FROM provider_events WHERE id = $1 FOR UPDATE', [id])).rows[0];
}

/** An event by its inbox id, unlocked (what the provider may complete before it is applied). */
export async function findEventById(q: Queryable, id: string): Promise<InboxRow | undefined> {
  return (await q.query<InboxRow>('SELECT * FROM provider_events WHERE id = $1', [id])).rows[0];
}

export async function markEvent(
  q: Queryable,
  id: string,
  status: InboxRow['status'],
  patch: { error?: string | null; at: Date; nextAttemptAt?: Date | null },
): Promise<void> {
  await q.query(
    `UPDATE provider_events SET status = $2, last_error = $3, attempts = attempts + 1,
       processed_at = CASE WHEN $2 IN ('processed', 'ignored') THEN $4 ELSE processed_at END, next_attempt_at = $5
     WHERE id = $1`,
    [id, status, patch.error ?? null, patch.at, patch.nextAttemptAt ?? null],
  );
}

export async function claimRetries(q: Queryable, now: Date, limit: number): Promise<string[]> {
  const due = await claimDue<{ id: string }>(
    q,
    { table: 'provider_events', alias: 'e', select: 'e.id', where: "e.status IN ('pending', 'failed')", dueAt: 'next_attempt_at' },
    now,
    limit,
  );
  return due.map((r) => r.id);
}

export async function findEvent(q: Queryable, projectId: string, id: string): Promise<InboxRow | undefined> {
  return (await q.query<InboxRow>('SELECT * FROM provider_events WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

export async function listEvents(
  q: Queryable,
  projectId: string,
  f: { limit: number; startingAfter?: string; provider?: string; status?: string; type?: string },
): Promise<InboxRow[]> {
  return (
    await q.query<InboxRow>(
      `SELECT * FROM provider_events WHERE project_id = $1
         AND ($2::text IS NULL OR provider = $2) AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR type = $4)
         AND ($5::text IS NULL OR (received_at, id) < (SELECT received_at, id FROM provider_events WHERE project_id = $1 AND id = $5))
       ORDER BY received_at DESC, id DESC LIMIT $6`,
      [projectId, f.provider ?? null, f.status ?? null, f.type ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}
