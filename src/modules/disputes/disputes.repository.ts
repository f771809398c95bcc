import type { Queryable } from '../../db/db.ts';
import type { DisputePolicy, DisputeStatus } from '../../domain/disputes.ts';

export interface DisputeRow {
  project_id: string;
  id: string;
  provider: string;
  provider_ref: string;
  payment_id: string;
  customer_id: string | null;
  amount: number;
  currency: string;
  reason: string | null;
  status: DisputeStatus;
  provider_status: string | null;
  on_open: DisputePolicy;
  credits_requested: number;
  credits_held: number;
  credits_reversed: number;
  credits_shortfall: number;
  subscription_id: string | null;
  evidence_due_by: Date | null;
  created_at: Date;
  updated_at: Date;
  closed_at: Date | null;
  fee_amount: number | null;
  fee_currency: string | null;
}

export async function lockDisputeByRef(q: Queryable, projectId: string, provider: string, ref: string): Promise<DisputeRow | undefined> {
  return (
    await q.query<DisputeRow>('SELECT * FROM disputes WHERE project_id = $1 AND provider = $2 AND provider_ref = $3 FOR UPDATE', [projectId, provider, ref])
  ).rows[0];
}

/** Inserts a dispute once per provider reference; undefined when a twin inserted it first. */
export async function insertDispute(
  q: Queryable,
  d: Omit<
    DisputeRow,
    'credits_requested' | 'credits_held' | 'credits_reversed' | 'credits_shortfall' | 'closed_at' | 'subscription_id' | 'fee_amount' | 'fee_currency'
  >,
): Promise<DisputeRow | undefined> {
  return (
    await q.query<DisputeRow>(
      `INSERT INTO disputes (project_id, id, provider, provider_ref, payment_id, customer_id, amount, currency, reason, status,
         provider_status, on_open, evidence_due_by, created_at, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
       ON CONFLICT (project_id, provider, provider_ref) DO NOTHING RETURNING *`,
      [
        d.project_id,
        d.id,
        d.provider,
        d.provider_ref,
        d.payment_id,
        d.customer_id,
        d.amount,
        d.currency,
        d.reason,
        d.status,
        d.provider_status,
        d.on_open,
        d.evidence_due_by,
        d.created_at,
        d.updated_at,
      ],
    )
  ).rows[0];
}

export async function updateDispute(
  q: Queryable,
  projectId: string,
  id: string,
  patch: Partial<
    Pick<
      DisputeRow,
      | 'status'
      | 'provider_status'
      | 'amount'
      | 'reason'
      | 'evidence_due_by'
      | 'credits_requested'
      | 'credits_held'
      | 'credits_reversed'
      | 'credits_shortfall'
      | 'subscription_id'
      | 'closed_at'
      | 'fee_amount'
      | 'fee_currency'
    >
  > & { updated_at: Date },
): Promise<DisputeRow> {
  const cols = Object.keys(patch) as (keyof typeof patch)[];
  const sets = cols.map((c, i) => `${c} = $${i + 3}`).join(', ');
  const r = await q.query<DisputeRow>(`UPDATE disputes SET ${sets} WHERE project_id = $1 AND id = $2 RETURNING *`, [
    projectId,
    id,
    ...cols.map((c) => patch[c]),
  ]);
  return r.rows[0] as DisputeRow;
}

export async function findDispute(q: Queryable, projectId: string, id: string): Promise<DisputeRow | undefined> {
  return (await q.query<DisputeRow>('SELECT * FROM disputes WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

export async function listDisputes(
  q: Queryable,
  projectId: string,
  f: { limit: number; startingAfter?: string; customerId?: string; paymentId?: string; status?: string },
): Promise<DisputeRow[]> {
  return (
    await q.query<DisputeRow>(
      `SELECT * FROM disputes WHERE project_id = $1
         AND ($2::text IS NULL OR customer_id = $2)
         AND ($3::text IS NULL OR payment_id = $3)
         AND ($4::text IS NULL OR status = $4)
         AND ($5::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM disputes WHERE project_id = $1 AND id = $5))
       ORDER BY created_at DESC, id DESC LIMIT $6`,
      [projectId, f.customerId ?? null, f.paymentId ?? null, f.status ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}

/** The disputes of one customer that still matter: open, or lost (newest first). */
export async function standingDisputes(q: Queryable, projectId: string, customerId: string): Promise<DisputeRow[]> {
  return (
    await q.query<DisputeRow>(
      `SELECT * FROM disputes WHERE project_id = $1 AND customer_id = $2 AND status <> 'won' ORDER BY created_at DESC, id DESC LIMIT 20`,
      [projectId, customerId],
    )
  ).rows;
}

/** Open disputes of a project (the dashboard's count). */
export async function countOpen(q: Queryable, projectId: string): Promise<{ open: number; lost: number }> {
  const r = await q.query<{ open: number; lost: number }>(
    `SELECT count(*) FILTER (WHERE status IN ('needs_response', 'under_review'))::int AS open,
            count(*) FILTER (WHERE status = 'lost')::int AS lost
     FROM disputes WHERE project_id = $1`,
    [projectId],
  );
  return r.rows[0] ?? { open: 0, lost: 0 };
}

/** Marks the payment with its latest dispute and where it stands. */
export async function markPayment(q: Queryable, projectId: string, paymentId: string, disputeId: string, status: DisputeStatus): Promise<void> {
  await q.query('UPDATE payments SET dispute_id = $3, dispute_status = $4 WHERE project_id = $1 AND id = $2', [projectId, paymentId, disputeId, status]);
}
