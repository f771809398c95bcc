import type { Queryable } from '../../db/db.ts';

/**
 * The SQL of a customer's erasure and export (docs/customers.md, "Customers' rights"). Every
 * statement is scoped by (project_id, customer_id).
 */

export async function lockCustomer(
  q: Queryable,
  projectId: string,
  id: string,
): Promise<{ email: string | null; name: string | null; metadata: Record<string, unknown>; deleted_at: Date | null } | undefined> {
  return (
    await q.query<{ email: string | null; name: string | null; metadata: Record<string, unknown>; deleted_at: Date | null }>(
      'SELECT email, name, metadata, deleted_at FROM customers WHERE project_id = $1 AND id = $2 FOR UPDATE',
      [projectId, id],
    )
  ).rows[0];
}

/** An open checkout session of the customer that has not expired yet (a payment may still complete it). */
export async function openCheckout(q: Queryable, projectId: string, id: string, at: Date): Promise<{ id: string; expires_at: Date } | undefined> {
  return (
    await q.query<{ id: string; expires_at: Date }>(
      `SELECT id, expires_at FROM checkout_sessions WHERE project_id = $1 AND customer_id = $2 AND status = 'open' AND expires_at > $3
       ORDER BY expires_at DESC LIMIT 1`,
      [projectId, id, at],
    )
  ).rows[0];
}

/** The personal values held about the customer outside the customers row (profile, billing, checkout e-mails). */
export async function personalValues(q: Queryable, projectId: string, id: string): Promise<unknown[]> {
  const r = await q.query<{ v: unknown }>(
    `SELECT to_jsonb(p) - 'project_id' - 'customer_id' - 'updated_at' - 'terms_accepted_at' - 'onboarding_completed_at' - 'marketing_opt_in'
            - 'onboarding_steps' - 'timezone' - 'locale' AS v
       FROM customer_profiles p WHERE project_id = $1 AND customer_id = $2
     UNION ALL
     SELECT jsonb_build_array(b.name, b.address, b.vat_id) FROM customer_billing_details b WHERE project_id = $1 AND customer_id = $2
     UNION ALL
     SELECT to_jsonb(s.customer_email) FROM checkout_sessions s WHERE project_id = $1 AND customer_id = $2 AND customer_email IS NOT NULL`,
    [projectId, id],
  );
  return r.rows.map((x) => x.v);
}

/** Rows deleted outright: profile and settings, billing details, vault secrets, sessions, saved cards, cart, auto top-up. */
export async function deletePersonalRows(q: Queryable, projectId: string, id: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    'customer_profiles',
    'customer_billing_details',
    'vault_secrets',
    'customer_sessions',
    'portal_sessions',
    'payment_methods',
    'cart_items',
    'credit_auto_top_ups',
    // What an import kept of the source record (its id, a fingerprint of its fields).
    'import_records',
  ]) {
    const r = await q.query(`DELETE FROM ${table} WHERE project_id = $1 AND customer_id = $2`, [projectId, id]);
    out[table] = r.rowCount ?? 0;
  }
  return out;
}

/** Keys stop working and lose their names; their rows stay so verify answers `customer_deleted`. */
export async function revokeCustomerKeys(q: Queryable, projectId: string, id: string, at: Date): Promise<number> {
  const r = await q.query(
    'UPDATE customer_api_keys SET revoked_at = COALESCE(revoked_at, $3), name = NULL WHERE project_id = $1 AND customer_id = $2',
    [projectId, id, at],
  );
  return r.rowCount ?? 0;
}

export async function pseudonymize(q: Queryable, projectId: string, id: string, at: Date): Promise<void> {
  await q.query(
    `UPDATE customers SET email = NULL, name = NULL, metadata = '{}', deleted_at = $3, updated_at = $3 WHERE project_id = $1 AND id = $2`,
    [projectId, id, at],
  );
  await q.query('UPDATE checkout_sessions SET customer_email = NULL WHERE project_id = $1 AND customer_id = $2', [projectId, id]);
}

/**
 * Where copies of personal values may sit inside JSON kept for other reasons (the customer's events
 * and audit entries, stored idempotent replies, received provider events, payment details): the
 * table, its key column, the JSON column, and which rows may hold the customer's values.
 */
export const JSON_COPIES = [
  { table: 'outbox_events', key: 'id', column: 'payload', scope: 'customer' },
  { table: 'audit_log', key: 'id', column: 'details', scope: 'customer' },
  { table: 'checkout_sessions', key: 'id', column: 'details', scope: 'customer' },
  { table: 'payments', key: 'id', column: 'details', scope: 'customer' },
  { table: 'orders', key: 'id', column: 'metadata', scope: 'customer' },
  { table: 'subscriptions', key: 'id', column: 'metadata', scope: 'customer' },
  { table: 'refunds', key: 'id', column: 'details', scope: 'payment' },
  { table: 'idempotency_keys', key: 'key', column: 'response', scope: 'mentions' },
  { table: 'provider_events', key: 'id', column: 'payload', scope: 'mentions' },
  // What an endpoint answered to the customer's events (an endpoint may echo the payload): text, not JSON.
  { table: 'webhook_attempts', key: 'seq', column: 'response_excerpt', scope: 'delivery', text: true },
] as const;

export type JsonCopy = (typeof JSON_COPIES)[number];

/**
 * The rows of one place holding any of `needles` in their JSON text: the customer's own rows, or —
 * for tables not keyed by customer — rows that also mention the customer's id (or its e-mail).
 */
export async function rowsHolding(
  q: Queryable,
  place: JsonCopy,
  projectId: string,
  id: string,
  needles: string[],
  email: string | null,
): Promise<{ k: string; v: unknown }[]> {
  const scope =
    place.scope === 'customer'
      ? 'customer_id = $2'
      : place.scope === 'payment'
        ? 'payment_id IN (SELECT id FROM payments WHERE project_id = $1 AND customer_id = $2)'
        : place.scope === 'delivery'
          ? `delivery_id IN (SELECT d.id FROM webhook_deliveries d JOIN outbox_events e ON e.project_id = d.project_id AND e.id = d.event_id
                             WHERE d.project_id = $1 AND e.customer_id = $2)`
          : `(strpos(${place.column}::text, to_jsonb($2::text)::text) > 0 OR ($4::text IS NOT NULL AND strpos(lower(${place.column}::text), lower($4)) > 0))`;
  const r = await q.query<{ k: string; v: unknown }>(
    `SELECT ${place.key}::text AS k, ${place.column} AS v FROM ${place.table}
     WHERE project_id = $1 AND ${place.column} IS NOT NULL AND ${scope}
       AND EXISTS (SELECT 1 FROM unnest($3::text[]) n WHERE strpos(lower(${place.column}::text), lower(n)) > 0)
     FOR UPDATE`,
    place.scope === 'mentions' ? [projectId, id, needles, email] : [projectId, id, needles],
  );
  return r.rows;
}

/** Lets this transaction redact audit entries' details (the one exception to the append-only audit log). */
export async function allowAuditRedaction(q: Queryable): Promise<void> {
  await q.query("SELECT set_config('tollgate.erasure', 'on', true)");
}

export async function rewriteJson(q: Queryable, place: JsonCopy, projectId: string, key: string, value: unknown): Promise<void> {
  const stored = 'text' in place && place.text ? value : JSON.stringify(value);
  await q.query(`UPDATE ${place.table} SET ${place.column} = $3 WHERE project_id = $1 AND ${place.key}::text = $2`, [projectId, key, stored]);
}

/** Everything held about the customer, table by table (for the export). */
export async function exportRows(q: Queryable, projectId: string, id: string) {
  const byCustomer = async (sql: string) => (await q.query<Record<string, unknown>>(sql, [projectId, id])).rows;
  // Sequential: inside a transaction every query shares one connection.
  return {
    profile: await byCustomer('SELECT * FROM customer_profiles WHERE project_id = $1 AND customer_id = $2'),
    billing_details: await byCustomer('SELECT * FROM customer_billing_details WHERE project_id = $1 AND customer_id = $2'),
    credit_account: await byCustomer('SELECT * FROM credit_accounts WHERE project_id = $1 AND customer_id = $2'),
    ledger: await byCustomer(
      `SELECT id, amount, balance_after, kind, reason, source_id, metadata, expires_at, created_at
       FROM ledger_entries WHERE project_id = $1 AND customer_id = $2 ORDER BY seq`,
    ),
    holds: await byCustomer('SELECT * FROM credit_holds WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id'),
    grants: await byCustomer('SELECT * FROM credit_grants WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id'),
    usage: await byCustomer('SELECT feature, used, lim, period_start, updated_at FROM usage_counters WHERE project_id = $1 AND customer_id = $2 ORDER BY feature'),
    subscriptions: await byCustomer('SELECT * FROM subscriptions WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id'),
    orders: await byCustomer(
      `SELECT o.*, COALESCE((SELECT jsonb_agg(to_jsonb(i) - 'project_id' ORDER BY i.position) FROM order_items i
                             WHERE i.project_id = o.project_id AND i.order_id = o.id), '[]') AS items
       FROM orders o WHERE o.project_id = $1 AND o.customer_id = $2 ORDER BY o.created_at, o.id`,
    ),
    cart: await byCustomer('SELECT id, product_id, quantity, created_at FROM cart_items WHERE project_id = $1 AND customer_id = $2 ORDER BY seq'),
    payments: await byCustomer('SELECT * FROM payments WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id'),
    refunds: await byCustomer(
      `SELECT r.id, r.payment_id, r.amount, r.currency, r.status, r.provider, r.origin, r.created_at FROM refunds r
       WHERE r.project_id = $1 AND r.payment_id IN (SELECT id FROM payments WHERE project_id = $1 AND customer_id = $2) ORDER BY r.seq`,
    ),
    disputes: await byCustomer(
      `SELECT id, payment_id, amount, currency, reason, status, provider, provider_ref, credits_requested, credits_held, credits_reversed,
              credits_shortfall, fee_amount, fee_currency, created_at, closed_at
       FROM disputes WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id`,
    ),
    payment_methods: await byCustomer(
      'SELECT id, provider, brand, last4, is_default, created_at FROM payment_methods WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id',
    ),
    invoices: await byCustomer(
      `SELECT id, kind, number, payment_id, refund_id, invoice_id, currency, subtotal, tax, total, issued_at
       FROM invoices WHERE project_id = $1 AND customer_id = $2 ORDER BY issued_at, id`,
    ),
    api_keys: await byCustomer(
      `SELECT id, name, preview, scopes, expires_at, rate_limit, rate_limit_window_seconds, remaining, auto_issued, created_at, revoked_at
       FROM customer_api_keys WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id`,
    ),
    secrets: await byCustomer('SELECT name, created_at, updated_at FROM vault_secrets WHERE project_id = $1 AND customer_id = $2 ORDER BY name'),
    audit: await byCustomer(
      `SELECT id, actor, action, target, details, ip, created_at FROM audit_log
       WHERE project_id = $1 AND (customer_id = $2 OR target = $2) ORDER BY seq`,
    ),
    // What an import brought in for the customer: the import (its shape and the source record's id),
    // the record it made (target_id) and the balance or payment amount it imported.
    imports: await byCustomer(
      `SELECT shape, source_id, target_id, amount, fingerprint, created_at FROM import_records
       WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, shape, source_id`,
    ),
    checkout_sessions: await byCustomer(
      `SELECT id, provider, mode, item_type, item_id, quantity, amount, currency, status, payment_status, customer_email, promotion_code,
              trial_days, provider_ref, created_at, expires_at, completed_at
       FROM checkout_sessions WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id`,
    ),
    top_ups: await byCustomer(
      `SELECT id, pack_id, credits, amount, currency, status, failure_reason, created_at
       FROM credit_top_ups WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id`,
    ),
    auto_top_up: await byCustomer(
      `SELECT enabled, threshold, pack_id, monthly_cap, month, spent, last_error, disabled_at, updated_at
       FROM credit_auto_top_ups WHERE project_id = $1 AND customer_id = $2`,
    ),
    trials: await byCustomer('SELECT plan_id, subscription_id, created_at FROM customer_trials WHERE project_id = $1 AND customer_id = $2'),
    provider_customers: await byCustomer(
      'SELECT provider, ref, created_at FROM provider_customers WHERE project_id = $1 AND customer_id = $2 ORDER BY provider',
    ),
    // Sessions: when they were made and until when they last (never their tokens).
    sessions: await byCustomer(
      'SELECT id, created_by, created_at, expires_at FROM customer_sessions WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id',
    ),
    portal_sessions: await byCustomer(
      'SELECT id, return_url, created_at, expires_at FROM portal_sessions WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id',
    ),
    usage_events: await byCustomer(
      `SELECT event_id, feature, quantity, occurred_at, recorded_at FROM usage_events
       WHERE project_id = $1 AND customer_id = $2 ORDER BY recorded_at, event_id`,
    ),
    emails: await byCustomer(
      `SELECT id, event_type, template, locale, from_address, to_address, subject, text_body, attachments, status, skip_reason,
              created_at, sent_at
       FROM email_messages WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id`,
    ),
    events: await byCustomer(
      'SELECT id, type, payload, created_at FROM outbox_events WHERE project_id = $1 AND customer_id = $2 ORDER BY seq',
    ),
  };
}

/**
 * Where each table holding a `customer_id` appears in the export (the test checks every such table
 * of the schema is listed here, so a new one is either exported or said not to hold anything).
 */
export const EXPORT_SECTIONS: Record<string, string> = {
  audit_log: 'audit',
  cart_items: 'cart',
  checkout_sessions: 'checkout_sessions',
  credit_accounts: 'credits',
  credit_auto_top_ups: 'auto_top_up',
  credit_grants: 'grants',
  credit_holds: 'holds',
  credit_top_ups: 'top_ups',
  customer_api_keys: 'api_keys',
  customer_billing_details: 'billing_details',
  customer_profiles: 'profile',
  customer_sessions: 'sessions',
  customer_trials: 'trials',
  disputes: 'disputes',
  email_messages: 'emails',
  import_records: 'imports',
  invoices: 'invoices',
  ledger_entries: 'ledger',
  orders: 'orders',
  outbox_events: 'events',
  payment_methods: 'payment_methods',
  payments: 'payments',
  portal_sessions: 'portal_sessions',
  provider_customers: 'provider_customers',
  subscriptions: 'subscriptions',
  usage_counters: 'usage',
  usage_events: 'usage_events',
  vault_secrets: 'secrets',
};

/** Tables with a `customer_id` that hold nothing about the customer beyond what the export already has. */
export const NOT_EXPORTED: Record<string, string> = {
  stream_changes: 'a change-feed cursor for SDK streams (a sequence number and a time): no data of its own',
};
