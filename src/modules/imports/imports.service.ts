import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, findPlan, type Plan } from '../../domain/catalog.ts';
import { newId } from '../../domain/ids.ts';
import { AmountSchema, CurrencySchema } from '../../domain/money.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import * as creditsRepo from '../credits/credits.repository.ts';
import { CustomerIdSchema, ensureCustomer } from '../customers/customers.service.ts';
import * as customersRepo from '../customers/customers.repository.ts';
import { insertPayment } from '../payments/payments.repository.ts';
import { projectNow } from '../projects/projects.service.ts';
import { linkProviderCustomer } from '../providers/providers.repository.ts';
import { importSubscription } from '../subscriptions/subscriptions.start.ts';
import * as subsRepo from '../subscriptions/subscriptions.repository.ts';
import { managedProvider } from '../subscriptions/subscriptions.view.ts';
import * as repo from './imports.repository.ts';
import type { ImportShape } from './imports.repository.ts';
export type { ImportShape } from './imports.repository.ts';

/**
 * Moving in what a product already has (issue 15): rows parsed from its files (the CLI parses
 * credits.json, payments JSON/CSV, a SQLite users table and a customers CSV) are applied in
 * batches. Each source record is claimed once in `import_records` by a stable source id, so a
 * second run changes nothing; imported customers get no sign-up credits and no default trial.
 * A dry run applies the batch in a transaction that is rolled back: its report is exactly what
 * the real run would do, and nothing is written.
 */

export const IMPORT_SHAPES = ['credits', 'payments', 'users', 'customers'] as const;
export const MAX_BATCH = 500;

const SourceId = z.string().min(1).max(255);
const Email = z.string().trim().min(3).max(320).regex(/^[^\s@]+@[^\s@]+$/, 'must be an e-mail address');
const When = z.iso.datetime({ offset: true });
const Name = z.string().max(255);

export const CreditsRow = z
  .object({
    source_id: SourceId.optional().describe('Stable id of the record in the source (default: customer_id)'),
    customer_id: CustomerIdSchema,
    email: Email.nullable().optional(),
    name: Name.nullable().optional(),
    balance: AmountSchema.describe('The balance the source holds now, in credits'),
    transactions: z
      .array(
        z
          .object({
            id: SourceId.optional(),
            amount: z.number().int().min(-1e11).max(1e11).refine((n) => n !== 0, 'must not be 0'),
            reason: z.string().max(500).nullable().optional(),
            created_at: When.optional(),
          })
          .strict(),
      )
      .max(1000)
      .default([])
      .describe('Recent history, oldest or newest first; replayed after an opening entry so the ledger ends at `balance`'),
  })
  .strict();

export const PAYMENT_STATUSES = ['succeeded', 'failed', 'refunded', 'partially_refunded'] as const;
const PAYMENT_STATUS_ALIASES: Record<string, (typeof PAYMENT_STATUSES)[number]> = {
  succeeded: 'succeeded',
  paid: 'succeeded',
  complete: 'succeeded',
  completed: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
  declined: 'failed',
  refunded: 'refunded',
  partially_refunded: 'partially_refunded',
};

export const PaymentsRow = z
  .object({
    source_id: SourceId.describe('The payment id in the source'),
    customer_id: CustomerIdSchema.nullable().optional(),
    email: Email.nullable().optional(),
    amount: AmountSchema,
    currency: z.string().transform((s) => s.toLowerCase()).pipe(CurrencySchema),
    created_at: When,
    status: z
      .string()
      .transform((s) => s.trim().toLowerCase().replace(/[\s-]+/g, '_'))
      .refine((s) => s in PAYMENT_STATUS_ALIASES, `must be one of ${Object.keys(PAYMENT_STATUS_ALIASES).join(', ')}`),
    amount_refunded: AmountSchema.default(0),
    provider: z.string().min(1).max(40).regex(/^[a-z0-9_-]+$/).optional().describe('stripe, paypal, ... (default: import)'),
    provider_ref: SourceId.optional().describe("The provider's id (pi_..., ch_..., a PayPal capture id)"),
    description: z.string().max(500).nullable().optional(),
  })
  .strict()
  .refine((r) => r.amount_refunded <= r.amount, { message: 'amount_refunded is more than amount', path: ['amount_refunded'] });

export const USER_STATUSES = ['trialing', 'active', 'past_due', 'canceled', 'none'] as const;
const USER_STATUS_ALIASES: Record<string, (typeof USER_STATUSES)[number]> = {
  trialing: 'trialing',
  trial: 'trialing',
  trialling: 'trialing',
  active: 'active',
  paid: 'active',
  past_due: 'past_due',
  unpaid: 'past_due',
  canceled: 'canceled',
  cancelled: 'canceled',
  expired: 'canceled',
  inactive: 'canceled',
  none: 'none',
  free: 'none',
  '': 'none',
};

export const UsersRow = z
  .object({
    source_id: SourceId.optional().describe('Stable id of the user in the source (default: the customer id)'),
    customer_id: CustomerIdSchema.optional().describe('Default: the e-mail, lowercased'),
    email: Email.nullable().optional(),
    name: Name.nullable().optional(),
    stripe_customer_id: z.string().regex(/^cus_[A-Za-z0-9]+$/, 'must be a Stripe customer id (cus_...)').nullable().optional(),
    plan: z.string().max(255).nullable().optional(),
    trial_end: When.nullable().optional(),
    current_period_end: When.nullable().optional(),
    subscription_status: z
      .string()
      .nullable()
      .optional()
      .transform((s) => (s ?? '').trim().toLowerCase().replace(/[\s-]+/g, '_'))
      .refine((s) => s in USER_STATUS_ALIASES, `must be one of ${Object.keys(USER_STATUS_ALIASES).filter(Boolean).join(', ')} or empty`),
  })
  .strict()
  .refine((r) => r.customer_id || r.email, { message: 'needs an e-mail or a customer id', path: ['email'] });

export const CustomersRow = z
  .object({
    source_id: SourceId.optional().describe('Stable id of the line in the source (default: the customer id)'),
    external_id: CustomerIdSchema.optional().describe("The app's own user id; becomes the customer id (default: the e-mail, lowercased)"),
    email: Email.nullable().optional(),
    name: Name.nullable().optional(),
    metadata: z.record(z.string().max(40), z.string().max(500)).optional(),
  })
  .strict()
  .refine((r) => r.external_id || r.email, { message: 'needs an e-mail or an external id', path: ['email'] });

export const ROW_SCHEMAS = { credits: CreditsRow, payments: PaymentsRow, users: UsersRow, customers: CustomersRow } as const;

export const ImportBody = <T extends z.ZodType>(row: T) =>
  z
    .object({
      rows: z.array(row).min(1).max(MAX_BATCH),
      dry_run: z.boolean().default(false),
      first_row: z.number().int().min(1).default(1).describe('The row number of the first row in the source file (for the report)'),
    })
    .strict();

export type Outcome = 'new' | 'unchanged' | 'skipped';

export interface RowReport {
  row: number;
  source_id: string | null;
  customer_id: string | null;
  outcome: Outcome;
  reason: string | null;
}

export interface ImportReport {
  object: 'import_batch';
  shape: ImportShape;
  dry_run: boolean;
  counts: { seen: number; new: number; unchanged: number; skipped: number };
  totals: Record<string, number>;
  reconciliation: { imported_balances: number; opening_entries: number; balanced: boolean } | null;
  rows: RowReport[];
}

const fingerprint = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 24);
const lower = (s: string | null | undefined) => (s ? s.trim().toLowerCase() : null);
const add = (totals: Record<string, number>, key: string, n: number) => {
  totals[key] = (totals[key] ?? 0) + n;
};

class DryRun extends Error {
  constructor(readonly report: ImportReport) {
    super('dry run');
  }
}

type Applied = { outcome: Outcome; reason?: string | null; customerId: string | null; sourceId: string | null };

/** Applies one batch of rows of a shape; a dry run reports the same and writes nothing. */
export async function runImport(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  shape: ImportShape,
  body: { rows: unknown[]; dry_run: boolean; first_row: number },
): Promise<ImportReport> {
  const apply = async (trx: Queryable): Promise<ImportReport> => {
    const at = await projectNow(ctx, projectId);
    const { catalog } = await getCatalog(ctx, projectId);
    const report: ImportReport = {
      object: 'import_batch',
      shape,
      dry_run: body.dry_run,
      counts: { seen: 0, new: 0, unchanged: 0, skipped: 0 },
      totals: {},
      reconciliation: null,
      rows: [],
    };
    for (const [i, raw] of body.rows.entries()) {
      const r = await applyRow(ctx, trx, projectId, shape, raw, { at, catalog, totals: report.totals });
      report.counts.seen++;
      report.counts[r.outcome]++;
      report.rows.push({ row: body.first_row + i, source_id: r.sourceId, customer_id: r.customerId, outcome: r.outcome, reason: r.reason ?? null });
    }
    if (shape === 'credits') {
      const t = await repo.creditTotals(trx, projectId);
      report.reconciliation = { imported_balances: t.balances, opening_entries: t.entries, balanced: t.balances === t.entries };
    }
    return report;
  };
  if (!body.dry_run) return q.tx(apply);
  if (q.inTransaction) throw new Error('a dry-run import opens its own transaction');
  try {
    await q.tx(async (trx) => {
      throw new DryRun(await apply(trx));
    });
  } catch (err) {
    if (err instanceof DryRun) return err.report;
    throw err;
  }
  throw new Error('unreachable');
}

interface RowCtx {
  at: Date;
  catalog: Catalog;
  totals: Record<string, number>;
}

async function applyRow(ctx: AppContext, q: Queryable, projectId: string, shape: ImportShape, raw: unknown, rc: RowCtx): Promise<Applied> {
  switch (shape) {
    case 'credits':
      return importCredits(ctx, q, projectId, CreditsRow.parse(raw), rc);
    case 'payments':
      return importPayment(ctx, q, projectId, PaymentsRow.parse(raw), rc);
    case 'users':
      return importUser(ctx, q, projectId, UsersRow.parse(raw), rc);
    case 'customers':
      return importCustomerLine(ctx, q, projectId, CustomersRow.parse(raw), rc);
  }
}

/** Whether a record is already in: the same (unchanged) or changed in the source since (skipped, never re-applied). */
async function already(q: Queryable, projectId: string, shape: ImportShape, sourceId: string, print: string, customerId: string | null): Promise<Applied | null> {
  const prior = await repo.findRecord(q, projectId, shape, sourceId);
  if (!prior) return null;
  if (prior.fingerprint === print) return { outcome: 'unchanged', customerId: prior.customer_id ?? customerId, sourceId };
  return {
    outcome: 'skipped',
    reason: `already imported on ${prior.created_at.toISOString().slice(0, 10)} and changed in the source since; not applied again (adjust it in Tollgate)`,
    customerId: prior.customer_id ?? customerId,
    sourceId,
  };
}

async function customerFor(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  id: string,
  fields: { email?: string | null; name?: string | null; metadata?: Record<string, unknown> },
): Promise<{ ok: true; created: boolean } | { ok: false; reason: string }> {
  const existing = await customersRepo.findCustomer(q, projectId, id);
  if (existing?.deleted_at) return { ok: false, reason: `customer '${id}' was erased; not recreated` };
  if (existing) return { ok: true, created: false };
  const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
  const r = await ensureCustomer(ctx, q, projectId, id, clean, { imported: true });
  return { ok: true, created: r.created };
}

// credits.json ---------------------------------------------------------------------------------

async function importCredits(ctx: AppContext, q: Queryable, projectId: string, row: z.infer<typeof CreditsRow>, rc: RowCtx): Promise<Applied> {
  const sourceId = row.source_id ?? row.customer_id;
  const customerId = row.customer_id;
  const print = fingerprint({ balance: row.balance, transactions: row.transactions });
  const seen = await already(q, projectId, 'credits', sourceId, print, customerId);
  if (seen) return seen;
  const ids = row.transactions.map((t, i) => t.id ?? `#${i + 1}`);
  if (new Set(ids).size !== ids.length) return { outcome: 'skipped', reason: 'two transactions share an id', customerId, sourceId };
  const c = await customerFor(ctx, q, projectId, customerId, { email: row.email, name: row.name });
  if (!c.ok) return { outcome: 'skipped', reason: c.reason, customerId, sourceId };
  if (!(await repo.claimRecord(q, { projectId, shape: 'credits', sourceId, customerId, fingerprint: print, amount: row.balance, at: rc.at }))) {
    return (await already(q, projectId, 'credits', sourceId, print, customerId)) as Applied;
  }
  await creditsRepo.lockAccount(q, projectId, customerId);
  // The history is replayed after an opening entry for what came before it, so the ledger ends at
  // the source's balance; history that does not add up (more spent than held) is kept out, and the
  // balance comes in as one entry.
  const history = row.transactions
    .map((t, i) => ({ ...t, key: ids[i] as string, when: t.created_at ? new Date(t.created_at) : null }))
    .sort((a, b) => (a.when?.getTime() ?? 0) - (b.when?.getTime() ?? 0));
  let running = row.balance - history.reduce((s, t) => s + t.amount, 0);
  let replay = running >= 0;
  for (const t of history) {
    running += t.amount;
    if (running < 0) replay = false;
  }
  const opening = replay ? row.balance - history.reduce((s, t) => s + t.amount, 0) : row.balance;
  const first = replay ? (history.find((t) => t.when)?.when ?? rc.at) : rc.at;
  const openingId = newId('ledger');
  const meta = { import_source: sourceId };
  await creditsRepo.applyEntry(q, {
    projectId,
    customerId,
    id: openingId,
    amount: opening,
    kind: 'import',
    reason: 'Opening balance (imported)',
    sourceId: `import:${sourceId}:opening`,
    metadata: meta,
    at: first.getTime() > rc.at.getTime() ? rc.at : first,
  });
  let entries = opening;
  if (replay) {
    for (const t of history) {
      await creditsRepo.applyEntry(q, {
        projectId,
        customerId,
        id: newId('ledger'),
        amount: t.amount,
        kind: 'import',
        reason: t.reason ?? (t.amount > 0 ? 'Imported credit' : 'Imported usage'),
        sourceId: `import:${sourceId}:${t.key}`,
        metadata: { ...meta, source_transaction: t.id ?? null },
        at: t.when && t.when.getTime() <= rc.at.getTime() ? t.when : rc.at,
      });
      entries += t.amount;
    }
  }
  await repo.setTarget(q, projectId, 'credits', sourceId, openingId);
  add(rc.totals, 'balances', row.balance);
  add(rc.totals, 'ledger_entries', entries);
  add(rc.totals, 'transactions_replayed', replay ? history.length : 0);
  return {
    outcome: 'new',
    reason: replay || !history.length ? null : 'history does not add up to the balance (more spent than held): only the balance was imported',
    customerId,
    sourceId,
  };
}

// payments --------------------------------------------------------------------------------------

async function importPayment(ctx: AppContext, q: Queryable, projectId: string, row: z.infer<typeof PaymentsRow>, rc: RowCtx): Promise<Applied> {
  const sourceId = row.source_id;
  const customerId = row.customer_id ?? lower(row.email);
  const status0 = PAYMENT_STATUS_ALIASES[row.status] as (typeof PAYMENT_STATUSES)[number];
  const refunded = status0 === 'refunded' && row.amount_refunded === 0 ? row.amount : row.amount_refunded;
  const status = status0 === 'failed' ? 'failed' : refunded === 0 ? 'succeeded' : refunded >= row.amount ? 'refunded' : 'partially_refunded';
  const print = fingerprint({ ...row, status, refunded });
  const seen = await already(q, projectId, 'payments', sourceId, print, customerId);
  if (seen) return seen;
  const provider = row.provider ?? 'import';
  const providerRef = row.provider_ref ?? sourceId;
  const recorded = await repo.findPaymentByRef(q, projectId, provider, providerRef);
  if (recorded) return { outcome: 'skipped', reason: `payment already recorded as ${recorded.id} (${provider} ${providerRef})`, customerId, sourceId };
  if (customerId) {
    const c = await customerFor(ctx, q, projectId, customerId, { email: row.email });
    if (!c.ok) return { outcome: 'skipped', reason: c.reason, customerId, sourceId };
  }
  if (!(await repo.claimRecord(q, { projectId, shape: 'payments', sourceId, customerId, fingerprint: print, amount: row.amount, at: rc.at }))) {
    return (await already(q, projectId, 'payments', sourceId, print, customerId)) as Applied;
  }
  const created = new Date(row.created_at);
  const payment = await insertPayment(q, {
    id: newId('payment'),
    project_id: projectId,
    customer_id: customerId,
    amount: row.amount,
    currency: row.currency,
    status,
    provider,
    provider_ref: providerRef,
    kind: 'imported',
    item_id: null,
    checkout_session_id: null,
    subscription_id: null,
    order_id: null,
    period_start: null,
    period_end: null,
    failure_reason: status === 'failed' ? 'failed in the source system' : null,
    details: { import_source: sourceId, ...(row.description ? { description: row.description } : {}) },
    created_at: created.getTime() > rc.at.getTime() ? rc.at : created,
    refund_due_at: null,
  } as Parameters<typeof insertPayment>[1]);
  if (!payment) throw new Error(`payment ${provider} ${providerRef} conflicted after it was checked`);
  if (refunded > 0) await repo.setRefunded(q, projectId, payment.id, refunded);
  await repo.setTarget(q, projectId, 'payments', sourceId, payment.id);
  if (status !== 'failed') {
    add(rc.totals, `amount_${row.currency}`, row.amount);
    add(rc.totals, `refunded_${row.currency}`, refunded);
  }
  return { outcome: 'new', customerId, sourceId };
}

// users table (SQLite) --------------------------------------------------------------------------

function planNamed(catalog: Catalog, name: string): Plan | undefined {
  const n = name.trim().toLowerCase();
  return findPlan(catalog, n) ?? catalog.plans.find((p) => p.id.toLowerCase() === n || p.name.toLowerCase() === n);
}

async function importUser(ctx: AppContext, q: Queryable, projectId: string, row: z.infer<typeof UsersRow>, rc: RowCtx): Promise<Applied> {
  const customerId = (row.customer_id ?? lower(row.email)) as string;
  const sourceId = row.source_id ?? customerId;
  const status = USER_STATUS_ALIASES[row.subscription_status] as (typeof USER_STATUSES)[number];
  const print = fingerprint({ ...row, subscription_status: status });
  const seen = await already(q, projectId, 'users', sourceId, print, customerId);
  if (seen) return seen;
  const plan = row.plan ? planNamed(rc.catalog, row.plan) : undefined;
  const skip = (reason: string): Applied => ({ outcome: 'skipped', reason, customerId, sourceId });
  if (status !== 'none' && status !== 'canceled') {
    if (!row.plan) return skip(`a ${status} subscription needs a plan`);
    if (!plan) return skip(`unknown plan '${row.plan}' (catalog plans: ${rc.catalog.plans.map((p) => p.id).join(', ') || 'none'})`);
  }
  if (status === 'trialing' && !row.trial_end) return skip('a trialing subscription needs trial_end');
  const live = await subsRepo.lockLiveSubscription(q, projectId, customerId);
  if (live && status !== 'none') return skip(`customer already has a ${live.status} subscription in Tollgate (${live.id}); kept`);
  const c = await customerFor(ctx, q, projectId, customerId, { email: row.email, name: row.name });
  if (!c.ok) return skip(c.reason);
  if (!(await repo.claimRecord(q, { projectId, shape: 'users', sourceId, customerId, fingerprint: print, amount: null, at: rc.at }))) {
    return (await already(q, projectId, 'users', sourceId, print, customerId)) as Applied;
  }
  if (row.stripe_customer_id) await linkProviderCustomer(q, { projectId, customerId, provider: 'stripe', ref: row.stripe_customer_id, at: rc.at });
  if (status !== 'none' && plan) {
    // A customer billed by Stripe stays billed there: the row mirrors it until `tollgate import stripe` (or a webhook) brings its Stripe subscription.
    const provider = row.stripe_customer_id ? 'stripe' : await managedProvider(ctx, projectId);
    const sub = await importSubscription(ctx, q, {
      projectId,
      customerId,
      plan,
      quantity: 1,
      trialDays: 0,
      trialEnd: row.trial_end ? new Date(row.trial_end) : null,
      currentPeriodEnd: row.current_period_end ? new Date(row.current_period_end) : null,
      coupon: null,
      provider,
      providerRef: provider === 'sandbox' ? undefined : null,
      at: rc.at,
      status,
      metadata: { source: 'import', import_source: sourceId },
    });
    await repo.setTarget(q, projectId, 'users', sourceId, sub.id);
    add(rc.totals, `subscriptions_${status}`, 1);
  }
  add(rc.totals, c.created ? 'customers_created' : 'customers_existing', 1);
  return { outcome: 'new', customerId, sourceId };
}

// customers CSV ---------------------------------------------------------------------------------

async function importCustomerLine(ctx: AppContext, q: Queryable, projectId: string, row: z.infer<typeof CustomersRow>, rc: RowCtx): Promise<Applied> {
  const customerId = (row.external_id ?? lower(row.email)) as string;
  const sourceId = row.source_id ?? customerId;
  const print = fingerprint(row);
  const seen = await already(q, projectId, 'customers', sourceId, print, customerId);
  if (seen) return seen;
  const existing = await customersRepo.findCustomer(q, projectId, customerId);
  if (existing && !existing.deleted_at) {
    const differs = (row.email != null && row.email !== existing.email) || (row.name != null && row.name !== existing.name);
    if (differs) return { outcome: 'skipped', reason: `customer '${customerId}' exists with a different e-mail or name; not overwritten`, customerId, sourceId };
  }
  const c = await customerFor(ctx, q, projectId, customerId, { email: row.email, name: row.name, metadata: row.metadata });
  if (!c.ok) return { outcome: 'skipped', reason: c.reason, customerId, sourceId };
  if (!(await repo.claimRecord(q, { projectId, shape: 'customers', sourceId, customerId, fingerprint: print, amount: null, at: rc.at }))) {
    return (await already(q, projectId, 'customers', sourceId, print, customerId)) as Applied;
  }
  add(rc.totals, c.created ? 'customers_created' : 'customers_existing', 1);
  return { outcome: c.created ? 'new' : 'unchanged', reason: c.created ? null : 'customer already in Tollgate', customerId, sourceId };
}
