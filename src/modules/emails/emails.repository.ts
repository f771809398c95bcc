import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';
import type { EmailStatus } from '../../domain/emails.ts';

export interface EmailAttachment {
  kind: 'invoice';
  invoice_id: string;
  filename: string;
}

export interface EmailRow {
  project_id: string;
  id: string;
  event_id: string;
  event_type: string;
  template: string;
  once_key: string | null;
  customer_id: string | null;
  locale: string;
  from_address: string;
  to_address: string | null;
  subject: string;
  text_body: string;
  html_body: string;
  attachments: EmailAttachment[];
  status: EmailStatus;
  skip_reason: string | null;
  attempts: number;
  retry_step: number;
  next_attempt_at: Date | null;
  last_error: string | null;
  smtp_message_id: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
}

/** A claimed message with its project's test-clock offset (retries are due on the project clock). */
export type DueEmail = EmailRow & { clock_offset_ms: number };

export interface OutboxEvent {
  seq: string;
  id: string;
  project_id: string;
  type: string;
  customer_id: string | null;
  payload: { data?: Record<string, unknown> };
  created_at: Date;
}

const UNEMAILED = claimDueSql({
  table: 'outbox_events',
  alias: 'e',
  select: 'e.seq, e.id, e.project_id, e.type, e.customer_id, e.payload, e.created_at',
  where: 'e.emailed_at IS NULL',
  // Every event written so far (its time is the project's).
  dueAt: 'created_at',
  projectClock: true,
  orderBy: 'e.seq',
});

/** Claims outbox events the e-mail job has not looked at yet (oldest first), skipping those another instance holds. */
export async function claimUnemailedEvents(q: Queryable, now: Date, limit: number): Promise<OutboxEvent[]> {
  return (await q.query<OutboxEvent>(UNEMAILED, [now, limit])).rows;
}

export async function markEmailed(q: Queryable, seqs: string[], at: Date): Promise<void> {
  if (seqs.length === 0) return;
  await q.query('UPDATE outbox_events SET emailed_at = $2 WHERE seq = ANY($1::bigint[])', [seqs, at]);
}

/** Inserts a message unless one exists for (event, template) or (template, once_key); true when inserted. */
export async function insertMessage(q: Queryable, m: Omit<EmailRow, 'attempts' | 'retry_step' | 'last_error' | 'smtp_message_id' | 'sent_at' | 'updated_at'>): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO email_messages (project_id, id, event_id, event_type, template, once_key, customer_id, locale, from_address, to_address,
       subject, text_body, html_body, attachments, status, skip_reason, next_attempt_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
     ON CONFLICT DO NOTHING`,
    [
      m.project_id,
      m.id,
      m.event_id,
      m.event_type,
      m.template,
      m.once_key,
      m.customer_id,
      m.locale,
      m.from_address,
      m.to_address,
      m.subject,
      m.text_body,
      m.html_body,
      JSON.stringify(m.attachments),
      m.status,
      m.skip_reason,
      m.next_attempt_at,
      m.created_at,
    ],
  );
  return r.rowCount > 0;
}

const DUE = claimDueSql({
  table: 'email_messages',
  alias: 'm',
  select: 'm.project_id, m.id',
  where: "m.status = 'pending'",
  dueAt: 'next_attempt_at',
  projectClock: true,
});

/**
 * Claims due pending messages: the attempt is counted and the message leased until `leaseUntil`
 * (project clock), so a crash while sending leaves it to be sent again after the lease.
 */
export async function claimDueMessages(q: Queryable, now: Date, limit: number, leaseMs: number): Promise<DueEmail[]> {
  return (
    await q.query<DueEmail>(
      `WITH c AS (${DUE})
       UPDATE email_messages m SET attempts = m.attempts + 1,
         next_attempt_at = $1::timestamptz + ((pp.clock_offset_ms + $3::bigint) * interval '1 millisecond'), updated_at = $1
       FROM c, projects pp
       WHERE m.project_id = c.project_id AND m.id = c.id AND pp.id = m.project_id
       RETURNING m.*, pp.clock_offset_ms`,
      [now, limit, leaseMs],
    )
  ).rows;
}

export async function settleMessage(
  q: Queryable,
  projectId: string,
  id: string,
  s: { status: EmailStatus; nextAttemptAt: Date | null; retryStep: number; error: string | null; smtpMessageId: string | null; at: Date },
): Promise<void> {
  await q.query(
    `UPDATE email_messages SET status = $3, next_attempt_at = $4, retry_step = $5, last_error = $6,
       smtp_message_id = COALESCE($7, smtp_message_id), updated_at = $8,
       sent_at = CASE WHEN $3 IN ('sent', 'captured') THEN $8::timestamptz ELSE sent_at END
     WHERE project_id = $1 AND id = $2`,
    [projectId, id, s.status, s.nextAttemptAt, s.retryStep, s.error, s.smtpMessageId, s.at],
  );
}

export async function listMessages(
  q: Queryable,
  projectId: string,
  f: { customerId?: string; status?: string; template?: string; startingAfter?: string; limit: number },
): Promise<EmailRow[]> {
  return (
    await q.query<EmailRow>(
      `SELECT * FROM email_messages WHERE project_id = $1
         AND ($2::text IS NULL OR customer_id = $2) AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR template = $4)
         AND ($5::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM email_messages WHERE project_id = $1 AND id = $5))
       ORDER BY created_at DESC, id DESC LIMIT $6`,
      [projectId, f.customerId ?? null, f.status ?? null, f.template ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}

export async function findMessage(q: Queryable, projectId: string, id: string): Promise<EmailRow | undefined> {
  return (await q.query<EmailRow>('SELECT * FROM email_messages WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}
