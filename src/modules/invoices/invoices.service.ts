import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { CountryCode, PostalAddress } from '../../domain/address.ts';
import { decideVat, isEuCountry, isValidVatIdFormat, splitInclusive, type VatDecision } from '../../domain/vat-rates.ts';
import type { SummaryTax } from '../../domain/pricing.ts';
import type { ChargeTax } from './tax.service.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import type { PaymentRecordedHook, RefundRecordedHook } from '../../app/registry.ts';
import { audit } from '../audit/audit.service.ts';
import { requireCustomer } from '../customers/customers.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { getProject, invalidateProject, projectNow, projectsRepository } from '../projects/projects.service.ts';
import * as repo from './invoices.repository.ts';

/** Invoices and credit notes: issued in the transaction that records a payment or a refund, never changed. */

export type InvoiceRow = repo.InvoiceRow;

export const InvoiceSettingsBody = z
  .object({
    seller: z
      .object({
        name: z.string().min(1).max(200),
        address: PostalAddress.default({}),
        country: CountryCode.nullable().default(null),
        vat_id: z.string().max(20).nullable().default(null),
        email: z.email().max(320).nullable().optional(),
      })
      .strict()
      .optional(),
    prefix: z.string().regex(/^[A-Z0-9]{1,10}$/, 'must be 1 to 10 capital letters or digits').optional(),
    credit_note_prefix: z.string().regex(/^[A-Z0-9]{1,10}$/, 'must be 1 to 10 capital letters or digits').optional(),
    vat_rates: z.record(z.string().regex(/^[A-Z]{2}$/), z.number().min(0).max(50)).optional(),
    /** Whether catalog prices include VAT (default true); false adds VAT on top at checkout. A price's `tax_behavior` overrides it. */
    prices_include_tax: z.boolean().optional(),
  })
  .strict();
export type InvoiceSettings = z.infer<typeof InvoiceSettingsBody>;

export const BillingDetailsBody = z
  .object({
    name: z.string().max(200).nullable().default(null),
    address: PostalAddress.default({}),
    country: CountryCode.nullable().default(null),
    vat_id: z.string().max(20).nullable().default(null),
  })
  .strict();

export const InvoicesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  customer_id: z.string().max(255).optional(),
  kind: z.enum(['invoice', 'credit_note']).optional(),
});

function settingsOf(project: { settings: Record<string, unknown> }): InvoiceSettings {
  return (project.settings.invoicing as InvoiceSettings | undefined) ?? {};
}

export async function getInvoiceSettings(ctx: AppContext, projectId: string) {
  const s = settingsOf(await getProject(ctx, projectId));
  return { object: 'invoice_settings', seller: s.seller ?? null, prefix: s.prefix ?? 'INV', credit_note_prefix: s.credit_note_prefix ?? 'CN', vat_rates: s.vat_rates ?? {}, prices_include_tax: s.prices_include_tax ?? true };
}

/** Replaces the project's invoicing settings (seller details, number prefixes, VAT rate overrides). */
export async function putInvoiceSettings(ctx: AppContext, q: Queryable, caller: Caller, body: InvoiceSettings) {
  if (body.seller?.vat_id && body.seller.country && isEuCountry(body.seller.country) && !isValidVatIdFormat(body.seller.vat_id, body.seller.country)) {
    throw new InvalidRequestError(`Not a valid VAT id for ${body.seller.country}`, 'seller.vat_id');
  }
  const row = await projectsRepository.updateProjectSettings(q, caller.projectId, { settings: { invoicing: body } });
  if (!row) throw new NotFoundError('project', caller.projectId);
  await invalidateProject(ctx, caller.projectId);
  await audit(q, caller, { action: 'invoice_settings.updated', target: caller.projectId, details: body }, await projectNow(ctx, caller.projectId));
  return getInvoiceSettings(ctx, caller.projectId);
}

export function billingDetailsView(b: repo.BillingDetailsRow | undefined, customerId: string) {
  return {
    object: 'billing_details',
    customer_id: customerId,
    name: b?.name ?? null,
    address: b?.address ?? {},
    country: b?.country ?? null,
    vat_id: b?.vat_id ?? null,
    updated_at: b?.updated_at ?? null,
  };
}

export async function getBillingDetails(q: Queryable, projectId: string, customerId: string) {
  await requireCustomer(q, projectId, customerId);
  return billingDetailsView(await repo.findBillingDetails(q, projectId, customerId), customerId);
}

/** The buyer's name, address, country and VAT id printed on their next invoices (issued ones never change). */
export async function putBillingDetails(ctx: AppContext, q: Queryable, projectId: string, customerId: string, body: z.infer<typeof BillingDetailsBody>) {
  await requireCustomer(q, projectId, customerId);
  if (body.vat_id && !body.country) throw new InvalidRequestError('A VAT id needs the country it belongs to', 'country');
  if (body.vat_id && body.country && isEuCountry(body.country) && !isValidVatIdFormat(body.vat_id, body.country)) {
    throw new InvalidRequestError(`Not a valid VAT id for ${body.country}`, 'vat_id');
  }
  const row = await repo.upsertBillingDetails(q, {
    project_id: projectId,
    customer_id: customerId,
    name: body.name,
    address: body.address,
    country: body.country,
    vat_id: body.vat_id ? body.vat_id.replace(/[\s.-]/g, '').toUpperCase() : null,
    updated_at: await projectNow(ctx, projectId),
  });
  return billingDetailsView(row, customerId);
}

export function invoiceView(i: repo.InvoiceRow) {
  return {
    id: i.id,
    object: i.kind,
    number: i.number,
    customer_id: i.customer_id,
    payment_id: i.payment_id,
    refund_id: i.refund_id,
    invoice_id: i.invoice_id,
    currency: i.currency,
    subtotal: i.subtotal,
    tax: i.tax,
    total: i.total,
    seller: i.seller,
    buyer: i.buyer,
    lines: i.lines,
    tax_details: i.tax_details,
    issued_at: i.issued_at,
    pdf_url: `/v1/invoices/${i.id}/pdf`,
  };
}

export function formatNumber(prefix: string, year: number, sequence: number): string {
  return `${prefix}-${year}-${String(sequence).padStart(6, '0')}`;
}

async function describe(q: Queryable, p: paymentsRepo.PaymentRow): Promise<{ description: string; quantity: number }> {
  const session = p.checkout_session_id ? await paymentsRepo.findSession(q, p.checkout_session_id, p.project_id) : undefined;
  const quantity = session && session.quantity > 1 && p.amount % session.quantity === 0 ? session.quantity : 1;
  const name = session?.details.name ? String(session.details.name) : (p.item_id ?? p.kind);
  const day = (d: Date) => d.toISOString().slice(0, 10);
  switch (p.kind) {
    case 'credit_pack':
      return { description: `Credit pack: ${name}`, quantity };
    case 'subscription':
      return {
        description: `Subscription: ${p.item_id ?? ''}${p.period_start && p.period_end ? ` (${day(p.period_start)} – ${day(p.period_end)})` : ''}`,
        quantity: 1,
      };
    case 'order':
      return { description: `Order ${p.order_id ?? p.item_id ?? ''}`, quantity: 1 };
    default:
      return { description: name, quantity };
  }
}

/** The issuing country of the card paid with: as the provider reported it with the payment, else the customer's default card with that provider. */
async function cardCountryOf(q: Queryable, payment: paymentsRepo.PaymentRow): Promise<string | null> {
  if (typeof payment.details?.card_country === 'string') return payment.details.card_country;
  if (!payment.customer_id) return null;
  const card = await paymentsRepo.defaultPaymentMethod(q, payment.project_id, payment.customer_id);
  return card?.provider === payment.provider ? card.country : null;
}

/**
 * How a payment splits into net and VAT: Stripe's computed tax when Stripe Tax charged it; the VAT
 * Tollgate added on top of an exclusive price (recorded with the payment or its checkout session);
 * else the VAT contained in the amount paid (inclusive prices).
 */
function invoiceTax(
  payment: paymentsRepo.PaymentRow,
  session: paymentsRepo.CheckoutSessionRow | undefined,
  decided: VatDecision,
): { vat: VatDecision; split: { net: number; tax: number }; exclusive: boolean; computedBy: 'tollgate' | 'stripe' } {
  const summaryTax = (session?.details.summary as { tax?: SummaryTax | null } | undefined)?.tax ?? null;
  const providerTax = payment.details?.provider_tax as { amount: number; rate: number | null; country: string | null } | undefined;
  if (providerTax && typeof providerTax.amount === 'number') {
    const net = payment.amount - providerTax.amount;
    const rate = providerTax.rate ?? (net > 0 ? Math.round((providerTax.amount * 10_000) / net) / 100 : 0);
    const vat: VatDecision =
      providerTax.amount > 0 ? { rate, treatment: 'standard', country: providerTax.country ?? decided.country } : { ...decided, rate: 0 };
    return { vat, split: { net, tax: providerTax.amount }, exclusive: summaryTax?.behavior !== 'inclusive', computedBy: 'stripe' };
  }
  // What was charged for a renewal or proration, else what the checkout session added.
  const charged = payment.details?.tax as ChargeTax | undefined;
  const added =
    charged?.tax_behavior === 'exclusive'
      ? { net: charged.net, rate: charged.rate, treatment: charged.treatment, country: charged.country }
      : summaryTax?.behavior === 'exclusive' && summaryTax.computed_by === 'tollgate' && summaryTax.treatment
        ? { net: summaryTax.net, rate: summaryTax.rate ?? 0, treatment: summaryTax.treatment, country: summaryTax.country }
        : null;
  if (added) {
    return {
      vat: { rate: added.rate, treatment: added.treatment, country: added.country },
      split: { net: added.net, tax: payment.amount - added.net },
      exclusive: true,
      computedBy: 'tollgate',
    };
  }
  return { vat: decided, split: splitInclusive(payment.amount, decided.rate), exclusive: false, computedBy: 'tollgate' };
}

/** Issues the invoice of a succeeded payment, in the payment's transaction (listed as `onPaymentRecorded`). */
export const issueInvoiceForPayment: PaymentRecordedHook = async (ctx, q, payment) => {
  if (payment.status !== 'succeeded' || payment.amount <= 0) return;
  const project = await getProject(ctx, payment.project_id);
  const s = settingsOf(project);
  const customer = payment.customer_id ? await requireCustomer(q, payment.project_id, payment.customer_id).catch(() => undefined) : undefined;
  const session = payment.checkout_session_id ? await paymentsRepo.findSession(q, payment.checkout_session_id, payment.project_id) : undefined;
  const given = session?.details.billing as z.infer<typeof BillingDetailsBody> | undefined;
  const evidence = (session?.details.evidence as Record<string, unknown> | undefined) ?? {};
  const cardCountry = await cardCountryOf(q, payment);
  // Billing details given at checkout become the customer's; otherwise the stored ones apply.
  const billing =
    payment.customer_id && given
      ? await repo.upsertBillingDetails(q, {
          project_id: payment.project_id,
          customer_id: payment.customer_id,
          name: given.name ?? null,
          address: given.address ?? {},
          country: given.country ?? null,
          vat_id: given.vat_id ? given.vat_id.replace(/[\s.-]/g, '').toUpperCase() : null,
          updated_at: payment.created_at,
        })
      : payment.customer_id
        ? await repo.findBillingDetails(q, payment.project_id, payment.customer_id)
        : undefined;
  const at = payment.created_at;
  const decided = decideVat({
    sellerCountry: s.seller?.country ?? null,
    sellerVatId: s.seller?.vat_id ?? null,
    buyerCountry: billing?.country ?? null,
    buyerVatId: billing?.vat_id ?? null,
    at,
    overrides: s.vat_rates,
  });
  const { description, quantity } = await describe(q, payment);
  const { vat, split, exclusive, computedBy } = invoiceTax(payment, session, decided);
  const year = at.getUTCFullYear();
  const sequence = await repo.nextSequence(q, payment.project_id, 'invoice', year);
  await repo.insertInvoice(q, {
    project_id: payment.project_id,
    id: newId('issuedInvoice'),
    kind: 'invoice',
    number: formatNumber(s.prefix ?? 'INV', year, sequence),
    year,
    sequence,
    customer_id: payment.customer_id,
    payment_id: payment.id,
    refund_id: null,
    invoice_id: null,
    currency: payment.currency,
    subtotal: split.net,
    tax: split.tax,
    total: payment.amount,
    seller: {
      name: s.seller?.name ?? project.name,
      email: s.seller?.email ?? null,
      address: s.seller?.address ?? {},
      country: s.seller?.country ?? null,
      vat_id: s.seller?.vat_id ?? null,
    },
    buyer: {
      name: billing?.name ?? customer?.name ?? null,
      email: customer?.email ?? null,
      address: billing?.address ?? {},
      country: billing?.country ?? null,
      vat_id: billing?.vat_id ?? null,
    },
    lines: [
      {
        description,
        quantity,
        unit_amount: payment.amount / quantity,
        vat_rate: vat.rate,
        net_amount: split.net,
        vat_amount: split.tax,
        amount: payment.amount,
      },
    ],
    tax_details: {
      treatment: vat.treatment,
      country: vat.country,
      rate: vat.rate,
      prices_include_tax: !exclusive,
      computed_by: computedBy,
      evidence: {
        billing_country: billing?.country ?? null,
        billing_country_source: given ? 'checkout' : billing?.country ? 'customer_billing_details' : null,
        ip_country: evidence.ip_country ?? null,
        card_country: cardCountry,
        ...(cardCountry && billing?.country && cardCountry !== billing.country.toUpperCase() ? { countries_disagree: true } : {}),
      },
      ...(vat.treatment === 'reverse_charge' ? { note: 'Reverse charge: VAT to be accounted for by the recipient (Article 196, Directive 2006/112/EC)' } : {}),
    },
    issued_at: at,
  });
};

/** Issues the credit note of a succeeded refund against the payment's invoice (listed as `onRefundRecorded`). */
export const issueCreditNoteForRefund: RefundRecordedHook = async (ctx, q, { payment, refund, at }) => {
  if (refund.status !== 'succeeded') return;
  const invoice = await repo.findPaymentInvoice(q, payment.project_id, payment.id);
  if (!invoice) return; // a payment recorded before invoicing existed
  const s = settingsOf(await getProject(ctx, payment.project_id));
  const credited = await repo.creditedTotals(q, payment.project_id, invoice.id);
  // VAT credited so far follows the refunded share of the invoice, so a full refund credits exactly its VAT.
  const creditedAfter = credited.total + refund.amount;
  const tax = Math.round((invoice.tax * creditedAfter) / invoice.total) - credited.tax;
  const line = invoice.lines[0]!;
  const year = at.getUTCFullYear();
  const sequence = await repo.nextSequence(q, payment.project_id, 'credit_note', year);
  await repo.insertInvoice(q, {
    ...invoice,
    id: newId('creditNote'),
    kind: 'credit_note',
    number: formatNumber(s.credit_note_prefix ?? 'CN', year, sequence),
    year,
    sequence,
    refund_id: refund.id,
    invoice_id: invoice.id,
    subtotal: refund.amount - tax,
    tax,
    total: refund.amount,
    lines: [
      {
        description: `Refund: ${line.description} (invoice ${invoice.number})`,
        quantity: 1,
        unit_amount: refund.amount,
        vat_rate: line.vat_rate,
        net_amount: refund.amount - tax,
        vat_amount: tax,
        amount: refund.amount,
      },
    ],
    tax_details: { ...invoice.tax_details, credits_invoice: invoice.number },
    issued_at: at,
  });
};

export async function requireInvoice(q: Queryable, projectId: string, id: string): Promise<repo.InvoiceRow> {
  const i = await repo.findInvoice(q, projectId, id);
  if (!i) throw new NotFoundError('invoice', id);
  return i;
}

export async function getInvoice(q: Queryable, projectId: string, id: string) {
  return invoiceView(await requireInvoice(q, projectId, id));
}

export async function listInvoices(q: Queryable, projectId: string, f: z.infer<typeof InvoicesQuery>) {
  const rows = await repo.listInvoices(q, projectId, { limit: f.limit, startingAfter: f.starting_after, customerId: f.customer_id, kind: f.kind });
  return { object: 'list', data: rows.slice(0, f.limit).map(invoiceView), has_more: rows.length > f.limit };
}

export async function listCustomerInvoices(q: Queryable, projectId: string, customerId: string, f: z.infer<typeof InvoicesQuery>) {
  await requireCustomer(q, projectId, customerId);
  return listInvoices(q, projectId, { ...f, customer_id: customerId });
}

/** A customer's own document, for pages opened with the customer's session or portal link; another customer's is not found. */
export async function findCustomerInvoice(q: Queryable, projectId: string, customerId: string, id: string): Promise<repo.InvoiceRow | undefined> {
  const i = await repo.findInvoice(q, projectId, id);
  return i && i.customer_id === customerId ? i : undefined;
}

/** The newest documents of one customer (pages), newest first. */
export async function recentCustomerInvoices(q: Queryable, projectId: string, customerId: string, limit = 10): Promise<repo.InvoiceRow[]> {
  return (await repo.listInvoices(q, projectId, { limit, customerId })).slice(0, limit);
}

/** The invoice issued for the payment of a checkout session (the credits page after a purchase). */
export function invoiceOfSession(q: Queryable, projectId: string, sessionId: string): Promise<repo.InvoiceRow | undefined> {
  return repo.findSessionInvoice(q, projectId, sessionId);
}

export const VatReportQuery = z.object({
  quarter: z.string().regex(/^\d{4}-Q[1-4]$/, 'must look like 2026-Q4'),
  format: z.enum(['json', 'csv']).default('json'),
});

/** The UTC bounds of a quarter written `2026-Q4`. */
export function quarterBounds(quarter: string): { from: Date; to: Date } {
  const m = /^(\d{4})-Q([1-4])$/.exec(quarter);
  if (!m) throw new InvalidRequestError('quarter must look like 2026-Q4', 'quarter');
  const year = Number(m[1]);
  const q = Number(m[2]);
  return { from: new Date(Date.UTC(year, (q - 1) * 3, 1)), to: new Date(Date.UTC(year, q * 3, 1)) };
}

/** VAT by country, treatment and rate for a quarter: what the OSS return needs. Credit notes count negative. */
export async function vatReport(q: Queryable, projectId: string, quarter: string) {
  const { from, to } = quarterBounds(quarter);
  const rows = await repo.vatTotals(q, projectId, from, to);
  const totals: Record<string, { net: number; tax: number; gross: number }> = {};
  for (const r of rows) {
    const t = totals[r.currency] ?? { net: 0, tax: 0, gross: 0 };
    totals[r.currency] = t;
    t.net += r.net;
    t.tax += r.tax;
    t.gross += r.gross;
  }
  return { object: 'vat_report', quarter, from, to, rows, totals };
}

export function vatReportCsv(report: Awaited<ReturnType<typeof vatReport>>): string {
  const head = 'country,treatment,rate,currency,invoices,credit_notes,net,tax,gross';
  const lines = report.rows.map((r) => [r.country ?? '', r.treatment, r.rate, r.currency, r.invoices, r.credit_notes, r.net, r.tax, r.gross].join(','));
  return `${[head, ...lines].join('\n')}\n`;
}

/** VAT inside the revenue of payments made in [from, to) (their invoices less credit notes), per currency. */
export async function vatOfRevenue(q: Queryable, projectId: string, from: Date, to: Date): Promise<Map<string, number>> {
  return new Map((await repo.vatOfPayments(q, projectId, from, to)).map((r) => [r.currency, r.tax]));
}

/** The invoice issued for a payment, if any (a receipt e-mail attaches it). */
export async function invoiceOfPayment(q: Queryable, projectId: string, paymentId: string): Promise<repo.InvoiceRow | undefined> {
  return repo.findPaymentInvoice(q, projectId, paymentId);
}
