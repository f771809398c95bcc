import type { Queryable } from '../../db/db.ts';

export interface CustomerRow {
  project_id: string;
  id: string;
  email: string | null;
  name: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  /** Set when the customer was erased (DELETE /v1/customers/:id): the row stays, pseudonymous. */
  deleted_at: Date | null;
}

/** A metadata value that removes its key instead of being stored (as in Stripe: null or ""). */
export const removesKey = (v: unknown): boolean => v === null || v === '';

const storedMetadata = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([, v]) => !removesKey(v)));

export async function insertCustomer(
  q: Queryable,
  c: { projectId: string; id: string; email?: string | null; name?: string | null; metadata?: Record<string, unknown>; at: Date },
): Promise<CustomerRow | undefined> {
  const r = await q.query<CustomerRow>(
    `INSERT INTO customers (project_id, id, email, name, metadata, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (project_id, id) DO NOTHING RETURNING *`,
    [c.projectId, c.id, c.email ?? null, c.name ?? null, JSON.stringify(storedMetadata(c.metadata ?? {})), c.at],
  );
  return r.rows[0];
}

export async function findCustomer(q: Queryable, projectId: string, id: string): Promise<CustomerRow | undefined> {
  return (await q.query<CustomerRow>('SELECT * FROM customers WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

/** Merges `metadata` key by key (a null or "" value removes the key); email and name replace when given. */
export async function updateCustomer(
  q: Queryable,
  projectId: string,
  id: string,
  patch: { email?: string | null; name?: string | null; metadata?: Record<string, unknown> },
  at: Date,
): Promise<CustomerRow | undefined> {
  const r = await q.query<CustomerRow>(
    `UPDATE customers SET
       email = CASE WHEN $3::boolean THEN $4 ELSE email END,
       name = CASE WHEN $5::boolean THEN $6 ELSE name END,
       metadata = (metadata || COALESCE($7::jsonb, '{}'::jsonb)) - $9::text[],
       updated_at = $8
     WHERE project_id = $1 AND id = $2 RETURNING *`,
    [
      projectId,
      id,
      patch.email !== undefined,
      patch.email ?? null,
      patch.name !== undefined,
      patch.name ?? null,
      patch.metadata ? JSON.stringify(storedMetadata(patch.metadata)) : null,
      at,
      Object.entries(patch.metadata ?? {})
        .filter(([, v]) => removesKey(v))
        .map(([k]) => k),
    ],
  );
  return r.rows[0];
}

export async function listCustomers(
  q: Queryable,
  projectId: string,
  opts: { limit: number; startingAfter?: string; search?: string },
): Promise<CustomerRow[]> {
  return (
    await q.query<CustomerRow>(
      `SELECT * FROM customers WHERE project_id = $1 AND deleted_at IS NULL
         AND ($2::text IS NULL OR id > $2)
         AND ($3::text IS NULL OR id ILIKE '%' || $3 || '%' OR email ILIKE '%' || $3 || '%' OR name ILIKE '%' || $3 || '%')
       ORDER BY id LIMIT $4`,
      [projectId, opts.startingAfter ?? null, opts.search ?? null, opts.limit + 1],
    )
  ).rows;
}

/** Whether the customer was erased; undefined when there is no such customer. */
/** Whether the project has erased any customer (partial index customers_erased, migration 0037). */
export async function anyErased(q: Queryable, projectId: string): Promise<boolean> {
  const r = await q.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM customers WHERE project_id = $1 AND deleted_at IS NOT NULL) AS any', [projectId]);
  return r.rows[0]?.any === true;
}

export async function deletedAtOf(q: Queryable, projectId: string, id: string): Promise<{ deleted_at: Date | null } | undefined> {
  return (await q.query<{ deleted_at: Date | null }>('SELECT deleted_at FROM customers WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}
