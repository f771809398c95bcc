import type { Queryable } from '../../db/db.ts';
import { newId } from '../../domain/ids.ts';
import type { Caller } from '../../app/context.ts';

export interface AuditEntry {
  action: string;
  customerId?: string;
  target?: string;
  details?: Record<string, unknown>;
}

/** Appends an administrative change (who, what, when, from where) in the caller's transaction. */
export async function audit(q: Queryable, caller: Caller, entry: AuditEntry, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO audit_log (id, project_id, actor, action, customer_id, target, details, ip, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      newId('audit'),
      caller.projectId,
      caller.actor,
      entry.action,
      entry.customerId ?? null,
      entry.target ?? null,
      JSON.stringify(entry.details ?? {}),
      caller.ip ?? null,
      at,
    ],
  );
}
