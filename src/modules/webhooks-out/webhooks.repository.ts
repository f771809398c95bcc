import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface EndpointRow {
  id: string;
  project_id: string;
  url: string;
  events: string[];
  enabled: boolean;
  description: string | null;
  secret_encrypted: string;
  disabled_reason: string | null;
  /** After a rotation: the old secret, still signing (next to the new one) until it expires. */
  previous_secret_encrypted: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export interface DeliveryRow {
  id: string;
  project_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  retry_step: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export interface AttemptRow {
  seq: number;
  delivery_id: string;
  attempt: number;
  url: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_excerpt: string | null;
  created_at: Date;
}

/** A claimed delivery with what sending it needs. */
export interface DueDelivery {
  id: string;
  project_id: string;
  attempts: number;
  retry_step: number;
  endpoint_id: string;
  url: string;
  secret_encrypted: string;
  previous_secret_encrypted: string | null;
  previous_secret_expires_at: Date | null;
  event_id: string;
  event_type: string;
  customer_id: string | null;
  payload: { data?: Record<string, unknown> };
  event_created_at: Date;
  /** The project's test-clock offset: retries are scheduled on the project clock. */
  clock_offset_ms: number;
  /** Whether the delivery belongs to a live-mode project (docs/modes.md). */
  livemode: boolean;
}

export async function insertEndpoint(
  q: Queryable,
  e: { id: string; projectId: string; url: string; events: string[]; enabled: boolean; description: string | null; secret: string; at: Date },
): Promise<EndpointRow> {
  const r = await q.query<EndpointRow>(
    `INSERT INTO webhook_endpoints (id, project_id, url, events, enabled, description, secret_encrypted, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *`,
    [e.id, e.projectId, e.url, e.events, e.enabled, e.description, e.secret, e.at],
  );
  return r.rows[0] as EndpointRow;
}

export async function findEndpoint(q: Queryable, projectId: string, id: string): Promise<EndpointRow | undefined> {
  return (
    await q.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL', [
      projectId,
      id,
    ])
  ).rows[0];
}

export async function listEndpoints(q: Queryable, projectId: string, limit: number, startingAfter?: string): Promise<EndpointRow[]> {
  return (
    await q.query<EndpointRow>(
      `SELECT * FROM webhook_endpoints WHERE project_id = $1 AND deleted_at IS NULL
         AND ($2::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM webhook_endpoints WHERE project_id = $1 AND id = $2))
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      [projectId, startingAfter ?? null, limit + 1],
    )
  ).rows;
}

export async function updateEndpoint(
  q: Queryable,
  projectId: string,
  id: string,
  p: { url?: string; events?: string[]; enabled?: boolean; description?: string | null; at: Date },
): Promise<EndpointRow | undefined> {
  const r = await q.query<EndpointRow>(
    `UPDATE webhook_endpoints SET url = COALESCE($3, url), events = COALESCE($4, events),
       enabled = COALESCE($5, enabled),
       description = CASE WHEN $6::boolean THEN $7 ELSE description END,
       disabled_reason = CASE WHEN $5::boolean IS NOT NULL THEN NULL ELSE disabled_reason END,
       updated_at = $8
     WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *`,
    [
      projectId,
      id,
      p.url ?? null,
      p.events ?? null,
      p.enabled ?? null,
      p.description !== undefined,
      p.description ?? null,
      p.at,
    ],
  );
  return r.rows[0];
}

/** Soft delete: deliveries keep their endpoint; what was still pending is abandoned. */
export async function deleteEndpoint(q: Queryable, projectId: string, id: string, at: Date): Promise<EndpointRow | undefined> {
  const r = await q.query<EndpointRow>(
    `UPDATE webhook_endpoints SET deleted_at = $3, enabled = false, updated_at = $3
     WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *`,
    [projectId, id, at],
  );
  if (r.rows[0]) {
    await q.query(
      `UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', next_attempt_at = NULL, updated_at = $2, completed_at = $2
       WHERE endpoint_id = $1 AND status = 'pending'`,
      [id, at],
    );
  }
  return r.rows[0];
}

export async function disableEndpoint(q: Queryable, id: string, reason: string, at: Date): Promise<void> {
  await q.query('UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3 WHERE id = $1', [id, reason, at]);
}

/** Serialises endpoint changes of one project, so the settings derived from its endpoints stay right. */
export async function lockProjectEndpoints(q: Queryable, projectId: string): Promise<void> {
  await q.query('SELECT 1 FROM projects WHERE id = $1 FOR NO KEY UPDATE', [projectId]);
}

/** Whether any live, enabled endpoint of the project names this event type explicitly. */
export async function someEndpointNames(q: Queryable, projectId: string, type: string): Promise<boolean> {
  const r = await q.query<{ yes: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE project_id = $1 AND deleted_at IS NULL AND enabled AND $2 = ANY(events)) AS yes`,
    [projectId, type],
  );
  return r.rows[0]?.yes === true;
}

/**
 * Fans a batch of undispatched outbox events out to the matching enabled endpoints (those that
 * existed when the event happened) and marks the events dispatched, in one statement. Delivery
 * ids derive from (endpoint, event), so a repeat cannot create a second delivery. The first
 * attempt is due at the server time the event was written (its project time less the project's
 * test-clock offset), i.e. at once.
 */
const UNDISPATCHED = claimDueSql({
  table: 'outbox_events',
  alias: 'e',
  select: 'e.seq, e.id, e.project_id, e.type, e.created_at',
  where: 'e.dispatched_at IS NULL',
  orderBy: 'e.seq',
});

export async function dispatchBatch(
  q: Queryable,
  now: Date,
  limit: number,
  optIn: readonly string[],
): Promise<{ events: number; deliveries: number }> {
  const r = await q.query<{ events: number; deliveries: number }>(
    `WITH ev AS (${UNDISPATCHED}), ins AS (
       INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_' || substr(md5(ep.id || ':' || ev.id), 1, 24), ev.project_id, ep.id, ev.id, ev.type, 'pending',
         ev.created_at, $1, $1
       FROM ev JOIN webhook_endpoints ep ON ep.project_id = ev.project_id JOIN projects p ON p.id = ev.project_id
       WHERE ep.enabled AND ep.deleted_at IS NULL AND ep.created_at <= ev.created_at
         AND (ev.type = ANY(ep.events) OR ('*' = ANY(ep.events) AND NOT ev.type = ANY($3::text[])))
       ON CONFLICT (project_id, endpoint_id, event_id) DO NOTHING
       RETURNING 1
     ), upd AS (
       UPDATE outbox_events o SET dispatched_at = $1 FROM ev WHERE o.seq = ev.seq RETURNING 1
     )
     SELECT (SELECT count(*) FROM upd)::int AS events, (SELECT count(*) FROM ins)::int AS deliveries`,
    [now, limit, optIn],
  );
  return r.rows[0] ?? { events: 0, deliveries: 0 };
}

const DELIVERIES_DUE = claimDueSql({
  table: 'webhook_deliveries',
  alias: 'd2',
  select: 'd2.id',
  join: 'JOIN webhook_endpoints ep ON ep.id = d2.endpoint_id',
  where: "d2.status = 'pending' AND ep.enabled AND ep.deleted_at IS NULL",
  dueAt: 'next_attempt_at',
  // Retries are scheduled on the project clock, so a sandbox's test clock also reaches the dead letter.
  projectClock: true,
});

/**
 * Claims due deliveries of enabled endpoints: the attempt is counted and the row leased until
 * `leaseUntil`, so a crash while sending leaves it to be retried (at least once) after the lease.
 */
export async function claimDueDeliveries(q: Queryable, now: Date, limit: number, leaseUntil: Date): Promise<DueDelivery[]> {
  const claimed = await q.query<{ id: string }>(
    `UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
       next_attempt_at = $3::timestamptz + (pp.clock_offset_ms * interval '1 millisecond'), updated_at = $1
     FROM (${DELIVERIES_DUE}) c, projects pp
     WHERE d.id = c.id AND pp.id = d.project_id RETURNING d.id`,
    [now, limit, leaseUntil],
  );
  if (claimed.rowCount === 0) return [];
  return (
    await q.query<DueDelivery>(
      `SELECT d.id, d.project_id, d.attempts, d.retry_step, ep.id AS endpoint_id, ep.url, ep.secret_encrypted,
         ep.previous_secret_encrypted, ep.previous_secret_expires_at,
         e.id AS event_id, e.type AS event_type, e.customer_id, e.payload, e.created_at AS event_created_at, pr.clock_offset_ms,
         pr.mode = 'live' AS livemode
       FROM webhook_deliveries d JOIN webhook_endpoints ep ON ep.id = d.endpoint_id JOIN outbox_events e ON e.id = d.event_id
         JOIN projects pr ON pr.id = d.project_id
       WHERE d.id = ANY($1::text[])`,
      [claimed.rows.map((r) => r.id)],
    )
  ).rows;
}

export async function insertAttempt(
  q: Queryable,
  a: {
    deliveryId: string;
    attempt: number;
    url: string;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
    excerpt: string | null;
    at: Date;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO webhook_attempts (project_id, delivery_id, attempt, url, status_code, duration_ms, error, response_excerpt, created_at)
     SELECT d.project_id, $1, $2, $3, $4, $5, $6, $7, $8 FROM webhook_deliveries d WHERE d.id = $1`,
    [a.deliveryId, a.attempt, a.url, a.statusCode, a.durationMs, a.error, a.excerpt, a.at],
  );
}

export async function settleDelivery(
  q: Queryable,
  id: string,
  s: {
    status: DeliveryRow['status'];
    nextAttemptAt: Date | null;
    retryStep: number;
    statusCode: number | null;
    error: string | null;
    at: Date;
  },
): Promise<void> {
  await q.query(
    `UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, retry_step = $4, last_status_code = $5, last_error = $6,
       updated_at = $7, completed_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $7::timestamptz END
     WHERE id = $1`,
    [id, s.status, s.nextAttemptAt, s.retryStep, s.statusCode, s.error, s.at],
  );
}

/** Deliveries of one endpoint, or of the whole project when `endpointId` is null; newest first. */
export async function listDeliveries(
  q: Queryable,
  projectId: string,
  endpointId: string | null,
  f: { limit: number; startingAfter?: string; status?: string },
): Promise<DeliveryRow[]> {
  return (
    await q.query<DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE project_id = $1 AND ($2::text IS NULL OR endpoint_id = $2)
         AND ($3::text IS NULL OR status = $3)
         AND ($4::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM webhook_deliveries WHERE project_id = $1 AND id = $4))
       ORDER BY created_at DESC, id DESC LIMIT $5`,
      [projectId, endpointId, f.status ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}

export async function findDelivery(q: Queryable, projectId: string, id: string): Promise<DeliveryRow | undefined> {
  return (await q.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

export async function attemptsOf(q: Queryable, deliveryIds: string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  return (
    await q.query<AttemptRow>('SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::text[]) ORDER BY delivery_id, seq', [
      deliveryIds,
    ])
  ).rows;
}

/** A manual redelivery: due now, with a fresh retry schedule; the webhook-id stays the event's. */
export async function resetDelivery(q: Queryable, id: string, now: Date): Promise<DeliveryRow> {
  const r = await q.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2, retry_step = 0, completed_at = NULL, updated_at = $2
     WHERE id = $1 RETURNING *`,
    [id, now],
  );
  return r.rows[0] as DeliveryRow;
}

const FINISHED_DELIVERIES = claimDueSql({
  table: 'webhook_deliveries',
  alias: 'd',
  select: 'd.id',
  where: "d.status <> 'pending' AND d.completed_at < $1",
});
const UNREFERENCED_EVENTS = claimDueSql({
  table: 'outbox_events',
  alias: 'e',
  select: 'e.seq',
  where: 'e.dispatched_at < $1 AND e.emailed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)',
});

/**
 * Forgets what is older than `before`: finished deliveries with their attempts, then dispatched
 * outbox events no delivery refers to and the e-mail job has seen. One bounded batch per call.
 */
export async function purgeBefore(q: Queryable, before: Date, limit: number): Promise<number> {
  const deliveries = await q.query<{ id: string }>(
    `WITH old AS (${FINISHED_DELIVERIES}), attempts AS (
       DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM old)
     )
     DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM old) RETURNING id`,
    [before, limit],
  );
  const events = await q.query(
    `DELETE FROM outbox_events WHERE seq IN (${UNREFERENCED_EVENTS})`,
    [before, limit],
  );
  return deliveries.rowCount + events.rowCount;
}

/** A new signing secret; the current one keeps signing until `previousUntil` (null: dropped at once). */
export async function rotateEndpointSecret(
  q: Queryable,
  projectId: string,
  id: string,
  r: { secret: string; previousUntil: Date | null; at: Date },
): Promise<EndpointRow | undefined> {
  const res = await q.query<EndpointRow>(
    `UPDATE webhook_endpoints SET
       previous_secret_encrypted = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret_encrypted END,
       previous_secret_expires_at = $4, secret_encrypted = $3, updated_at = $5
     WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *`,
    [projectId, id, r.secret, r.previousUntil, r.at],
  );
  return res.rows[0];
}

/** A test event for one endpoint: never fanned out to the others (dispatched and e-mailed at once). */
export async function insertTestDelivery(
  q: Queryable,
  t: { projectId: string; endpointId: string; eventId: string; deliveryId: string; payload: Record<string, unknown>; at: Date; now: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO outbox_events (id, project_id, type, customer_id, payload, created_at, dispatched_at, emailed_at)
     VALUES ($1, $2, 'webhook.test', NULL, $3, $4, $5, $5)`,
    [t.eventId, t.projectId, JSON.stringify({ type: 'webhook.test', customer_id: null, data: t.payload }), t.at, t.now],
  );
  await q.query(
    `INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'webhook.test', 'pending', $5, $6, $6)`,
    [t.deliveryId, t.projectId, t.endpointId, t.eventId, t.at, t.now],
  );
}

/** Claims one pending delivery by id (as claimDueDeliveries does); empty when another instance holds it. */
export async function claimDelivery(q: Queryable, projectId: string, id: string, now: Date, leaseUntil: Date): Promise<DueDelivery[]> {
  const claimed = await q.query<{ id: string }>(
    `UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
       next_attempt_at = $4::timestamptz + (pp.clock_offset_ms * interval '1 millisecond'), updated_at = $3
     FROM (SELECT d2.id FROM webhook_deliveries d2 WHERE d2.project_id = $1 AND d2.id = $2 AND d2.status = 'pending' FOR UPDATE SKIP LOCKED) c, projects pp
     WHERE d.project_id = $1 AND d.id = c.id AND pp.id = d.project_id RETURNING d.id`,
    [projectId, id, now, leaseUntil],
  );
  if (claimed.rowCount === 0) return [];
  return (
    await q.query<DueDelivery>(
      `SELECT d.id, d.project_id, d.attempts, d.retry_step, ep.id AS endpoint_id, ep.url, ep.secret_encrypted,
         ep.previous_secret_encrypted, ep.previous_secret_expires_at,
         e.id AS event_id, e.type AS event_type, e.customer_id, e.payload, e.created_at AS event_created_at, pr.clock_offset_ms,
         pr.mode = 'live' AS livemode
       FROM webhook_deliveries d JOIN webhook_endpoints ep ON ep.project_id = d.project_id AND ep.id = d.endpoint_id
         JOIN outbox_events e ON e.project_id = d.project_id AND e.id = d.event_id JOIN projects pr ON pr.id = d.project_id
       WHERE d.project_id = $1 AND d.id = $2`,
      [projectId, id],
    )
  ).rows;
}
