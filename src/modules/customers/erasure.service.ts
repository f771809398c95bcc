import type { AppContext, Caller } from '../../app/context.ts';
import type { Queryable } from '../../db/db.ts';
import { ConflictError, CustomerDeletedError, CustomerNotFoundError } from '../../domain/errors.ts';
import { audit } from '../audit/audit.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as subscriptionsRepo from '../subscriptions/subscriptions.repository.ts';
import { endReplaced, isManaged } from '../subscriptions/subscriptions.view.ts';
import { emit } from '../webhooks-out/outbox.ts';
import { customerView, requireCustomer } from './customers.service.ts';
import * as repo from './erasure.repository.ts';

/** What erased text is replaced with inside kept JSON. */
export const ERASED = '[erased]';

/** Every string inside a JSON value (keys excluded), depth first. */
function stringsOf(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) stringsOf(x, out);
  return out;
}

const escapeRe = (n: string) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `v` with the needles erased from its strings (case-insensitive): a string equal to a needle becomes
 * ERASED; a needle of 5 characters or more is replaced where it stands as a whole inside a longer
 * string ("Receipt for ada@example.com"), never inside a word ("pro" stays in "provider").
 */
export function redact(v: unknown, needles: readonly string[]): unknown {
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (needles.some((n) => n.toLowerCase() === t)) return ERASED;
    let s = v;
    for (const n of needles) {
      if (n.length < 5) continue;
      s = s.replace(new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRe(n)}(?![\\p{L}\\p{N}_])`, 'giu'), ERASED);
    }
    return s;
  }
  if (Array.isArray(v)) return v.map((x) => redact(x, needles));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redact(x, needles)]));
  return v;
}

/**
 * The personal values to hunt for: e-mail, name, metadata, profile and settings, billing details,
 * checkout e-mails. Short values (under 3 characters), numbers and booleans are not text that
 * identifies anyone and would match everywhere; the longest are replaced first.
 */
function needlesOf(c: { email: string | null; name: string | null; metadata: Record<string, unknown> }, others: unknown[]): string[] {
  const all = stringsOf([c.email, c.name, c.metadata, others]);
  return [...new Set(all.map((s) => s.trim()).filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length);
}

/**
 * Erases a customer's personal data (docs/customers.md, "Customers' rights"): e-mail, name, metadata,
 * profile and settings, billing details, vault secrets, sessions and saved cards are removed; API keys
 * are revoked and lose their names; copies of those values in kept JSON (the customer's events and
 * audit entries, stored idempotent replies, provider events, payment details) are replaced by
 * "[erased]". Ledger entries, payments, refunds and issued invoices stay (invoices keep their frozen
 * buyer snapshot: they are legal records). A live subscription Tollgate manages ends now; one run by
 * Stripe or PayPal must be canceled first, and an open checkout session must complete or expire (409). Audited; emits `customer.deleted`.
 */
export async function deleteCustomer(ctx: AppContext, q: Queryable, caller: Caller, id: string) {
  const projectId = caller.projectId;
  const c = await repo.lockCustomer(q, projectId, id);
  if (!c) throw new CustomerNotFoundError(id);
  if (c.deleted_at) throw new CustomerDeletedError(id);
  const at = await projectNow(ctx, projectId);
  const live = await subscriptionsRepo.lockLiveSubscription(q, projectId, id);
  if (live && !isManaged(live)) {
    throw new ConflictError(`Customer '${id}' has a live ${live.provider} subscription; cancel it before deleting the customer`, {
      subscription_id: live.id,
    });
  }
  const open = await repo.openCheckout(q, projectId, id, at);
  if (open) {
    // A payment completing it after the erasure could not be applied to anyone.
    throw new ConflictError(`Customer '${id}' has an open checkout session until ${open.expires_at.toISOString()}; delete the customer once it completed or expired`, {
      checkout_session_id: open.id,
    });
  }
  if (live) await endReplaced(ctx, q, live, at, 'customer_deleted');
  const needles = needlesOf(c, await repo.personalValues(q, projectId, id));
  const removed = await repo.deletePersonalRows(q, projectId, id);
  const keys = await repo.revokeCustomerKeys(q, projectId, id, at);
  await repo.pseudonymize(q, projectId, id, at);
  let redacted = 0;
  if (needles.length > 0) {
    await repo.allowAuditRedaction(q);
    for (const place of repo.JSON_COPIES) {
      for (const row of await repo.rowsHolding(q, place, projectId, id, needles, c.email)) {
        await repo.rewriteJson(q, place, projectId, row.k, redact(row.v, needles));
        redacted++;
      }
    }
  }
  await audit(
    q,
    caller,
    { action: 'customer.deleted', customerId: id, target: id, details: { removed, api_keys_revoked: keys, copies_redacted: redacted } },
    at,
  );
  await emit(q, { projectId, type: 'customer.deleted', customerId: id, data: { id, deleted_at: at.toISOString() }, at });
  return { id, object: 'customer', deleted: true, deleted_at: at };
}

/** Everything Tollgate holds about a customer, as one JSON document (secret values never included). */
export async function exportCustomer(ctx: AppContext, q: Queryable, projectId: string, id: string) {
  const c = await requireCustomer(q, projectId, id);
  const view = await customerView(ctx, q, c);
  const rows = await repo.exportRows(q, projectId, id);
  const [profile] = rows.profile as Record<string, unknown>[];
  const { profile: _p, billing_details, credit_account, auto_top_up, ...rest } = rows;
  return {
    object: 'customer_export',
    exported_at: await projectNow(ctx, projectId),
    customer: { id: c.id, email: c.email, name: c.name, metadata: c.metadata, created_at: c.created_at, updated_at: c.updated_at },
    profile: profile ? { ...profile, project_id: undefined, customer_id: undefined, settings: undefined } : null,
    settings: (profile?.settings as Record<string, unknown> | undefined) ?? {},
    billing_details: billing_details[0] ?? null,
    credits: credit_account[0] ?? null,
    auto_top_up: auto_top_up[0] ?? null,
    view,
    ...rest,
  };
}
