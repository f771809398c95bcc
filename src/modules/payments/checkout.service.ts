import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { findPack, packCreditsFor } from '../../domain/catalog.ts';
import { formatMoney, MAX_AMOUNT } from '../../domain/money.ts';
import { InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { derivedId, newId } from '../../domain/ids.ts';
import { type PriceSummary, priceSummary } from '../../domain/pricing.ts';
import { CountryCode, PostalAddress } from '../../domain/address.ts';
import { formatRate, isEuCountry, isValidVatIdFormat, type TaxBehavior } from '../../domain/vat-rates.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import type { CreateCheckoutResult, LineItem, ProviderName } from '../../providers/provider.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { CustomerIdSchema, ensureCustomer } from '../customers/customers.service.ts';
import { chargeFor, taxBehaviorOf } from '../invoices/tax.service.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import * as repo from './payments.repository.ts';
import { providerCall } from '../providers/provider-call.ts';
import { requireLiveProvider } from '../providers/providers.service.ts';

/** The buyer's billing details given at checkout: printed on the invoice, their country is VAT evidence. */
const BillingDetails = z
  .object({
    name: z.string().max(200).optional(),
    address: PostalAddress.optional(),
    country: CountryCode,
    vat_id: z.string().max(20).optional(),
  })
  .strict()
  .refine((b) => !b.vat_id || !isEuCountry(b.country) || isValidVatIdFormat(b.vat_id, b.country), {
    message: 'is not a valid VAT id for the billing country',
    path: ['vat_id'],
  });

/**
 * An http(s) URL. Not `z.url()`: its `format: uri` in the OpenAPI document would reject the
 * `{CHECKOUT_SESSION_ID}` placeholder the README's success_url uses (braces are not RFC 3986).
 */
const Url = z
  .string()
  .max(2000)
  .regex(/^https?:\/\/[^\s]+$/i, { error: 'must be an http(s) URL' })
  .refine((s) => URL.canParse(s), { error: 'must be an http(s) URL' })
  .describe('An http(s) URL; in success_url, {CHECKOUT_SESSION_ID} is replaced by the session id');

export const CheckoutBodySchema = z
  .object({
    customer_id: CustomerIdSchema.optional(),
    customer_email: z.email().optional(),
    plan: z.string().min(1).max(64).optional(),
    credit_pack: z.string().min(1).max(64).optional(),
    order_id: z.string().min(1).max(64).optional(),
    quantity: z.number().int().min(1).max(10_000).default(1),
    /** What the buyer chose to pay for a pay-what-you-want credit pack, in minor units (VAT added on top if the price excludes it). */
    amount: z.number().int('must be an integer of minor units').min(1).max(MAX_AMOUNT).optional(),
    success_url: Url,
    cancel_url: Url,
    trial_days: z.number().int().min(0).max(730).optional(),
    promotion_code: z.string().min(1).max(64).optional(),
    provider: z.enum(['sandbox', 'stripe', 'paypal']).optional(),
    metadata: z.record(z.string(), z.string().max(500)).optional(),
    billing_details: BillingDetails.optional(),
    /** The country of the buyer's IP address as the caller saw it (VAT evidence, kept on the invoice). */
    ip_country: CountryCode.optional(),
  })
  .strict()
  .refine((b) => [b.plan, b.credit_pack, b.order_id].filter((v) => v !== undefined).length === 1, {
    message: 'send exactly one of "plan", "credit_pack" or "order_id"',
    path: ['plan'],
  })
  .refine((b) => b.amount === undefined || b.credit_pack !== undefined, {
    message: 'is only for a pay-what-you-want credit pack',
    path: ['amount'],
  });
export type CheckoutBody = z.infer<typeof CheckoutBodySchema>;

/** What a checkout sells, priced by the server's own catalog (client amounts are never trusted). */
export interface CheckoutItem {
  itemType: 'credit_pack' | 'plan' | 'order';
  itemId: string;
  mode: 'payment' | 'subscription';
  amount: number; // total due now, minor units
  currency: string;
  quantity: number;
  lineItems: LineItem[];
  trialDays?: number | null;
  trialWithoutCard?: boolean;
  discount?: { percentOff?: number; amountOff?: number; duration: string; durationInMonths?: number } | null;
  /** What the customer is shown and charged (priceSummary); derived from lineItems when absent. */
  summary?: PriceSummary;
  /** The price's own tax behaviour (catalog `price.tax_behavior`); else the project's `prices_include_tax`. */
  taxBehavior?: TaxBehavior;
  /** When the session must close (an order's stock reservation); default 24 h. */
  expiresAt?: Date;
  details: Record<string, unknown>;
}

/**
 * Turns a checkout request into an item, or completes it at once (a trial that needs no card).
 * Listed per item type as `checkoutItems` of the capability that owns it (credit packs, plans, orders).
 */
export type CheckoutItemBuilder = (
  ctx: AppContext,
  q: Queryable,
  e: { projectId: string; customerId: string | null; body: CheckoutBody; at: Date },
) => Promise<CheckoutItem | { complete: Record<string, unknown> }>;

/**
 * A checkout for a credit pack: the pack's price times the quantity; for a pay-what-you-want pack,
 * the `amount` the buyer chose (between the pack's min and max, quantity 1) and the credits it buys.
 */
export const creditPackCheckoutItem: CheckoutItemBuilder = async (ctx, _q, { projectId, body }) => {
  const { catalog } = await getCatalog(ctx, projectId);
  const pack = findPack(catalog, body.credit_pack as string);
  if (!pack?.active) throw new InvalidRequestError(`Unknown credit pack '${body.credit_pack}'`, 'credit_pack');
  const pwyw = pack.pay_what_you_want;
  if (!pwyw) {
    if (body.amount !== undefined) throw new InvalidRequestError(`Credit pack '${pack.id}' has a fixed price: send no amount`, 'amount');
    return {
      itemType: 'credit_pack',
      itemId: pack.id,
      mode: 'payment',
      amount: pack.price.amount * body.quantity,
      currency: pack.price.currency,
      quantity: body.quantity,
      lineItems: [
        { name: `${pack.name} — ${pack.credits} credits`, amount: pack.price.amount, currency: pack.price.currency, quantity: body.quantity },
      ],
      taxBehavior: pack.price.tax_behavior,
      details: { credits: pack.credits * body.quantity, name: pack.name },
    };
  }
  const money = (amount: number) => formatMoney({ amount, currency: pack.price.currency });
  if (body.amount === undefined)
    throw new InvalidRequestError(`Credit pack '${pack.id}' is pay what you want: send an amount between ${money(pwyw.min)} and ${money(pwyw.max)} in minor units`, 'amount');
  if (body.amount < pwyw.min || body.amount > pwyw.max)
    throw new InvalidRequestError(`amount must be between ${pwyw.min} and ${pwyw.max} (${money(pwyw.min)} – ${money(pwyw.max)})`, 'amount');
  if (body.quantity !== 1) throw new InvalidRequestError('quantity must be 1 for a pay-what-you-want credit pack', 'quantity');
  const credits = packCreditsFor(pack, body.amount);
  return {
    itemType: 'credit_pack',
    itemId: pack.id,
    mode: 'payment',
    amount: body.amount,
    currency: pack.price.currency,
    quantity: 1,
    lineItems: [{ name: `${pack.name} — ${credits} credits`, amount: body.amount, currency: pack.price.currency, quantity: 1 }],
    taxBehavior: pack.price.tax_behavior,
    details: { credits, name: pack.name, pay_what_you_want: { amount: body.amount } },
  };
};

export const SESSION_TTL_MS = 24 * 3600 * 1000;

/** The session's price summary; sessions stored before summaries existed get one from their amount. */
export function sessionSummary(s: repo.CheckoutSessionRow): PriceSummary {
  const stored = s.details.summary as PriceSummary | undefined;
  if (stored && typeof stored.amount_due_today === 'number') return stored;
  const name = String(s.details.name ?? s.item_id);
  return priceSummary({ currency: s.currency, lines: [{ name, unitAmount: s.amount, quantity: 1 }], at: s.created_at });
}

export function sessionView(s: repo.CheckoutSessionRow) {
  const summary = sessionSummary(s);
  const tax = summary.tax ?? null;
  return {
    id: s.id,
    session_id: s.id,
    object: 'checkout_session',
    customer_id: s.customer_id,
    provider: s.provider,
    mode: s.mode,
    item_type: s.item_type,
    [s.item_type]: s.item_id,
    quantity: s.quantity,
    /** What is charged today (0 during a trial); the same figure as amount_due_today. */
    amount_total: { amount: s.amount, currency: s.currency },
    amount_due_today: { amount: summary.amount_due_today, currency: s.currency },
    /** Today's charge before VAT added on top (after any discount); amount_total = amount_subtotal + amount_tax when prices exclude VAT. */
    amount_subtotal: { amount: tax ? tax.net : s.amount, currency: s.currency },
    /** The VAT of today's charge (contained in it when prices include VAT); null when the provider computes it at payment. */
    amount_tax: tax?.amount === null ? null : { amount: tax?.amount ?? 0, currency: s.currency },
    tax_rate: tax?.rate ?? null,
    tax: tax
      ? { behavior: tax.behavior, computed_by: tax.computed_by, rate: tax.rate, country: tax.country, treatment: tax.treatment }
      : null,
    lines: summary.lines.map((l) => ({
      name: l.name,
      quantity: l.quantity,
      unit_amount: { amount: l.unit_amount, currency: s.currency },
      amount: { amount: l.amount, currency: s.currency },
    })),
    subtotal: { amount: summary.subtotal, currency: s.currency },
    discount: summary.discount
      ? { ...summary.discount, amount: { amount: summary.discount.amount, currency: s.currency } }
      : null,
    trial: summary.trial,
    recurring: summary.recurring
      ? { amount: { amount: summary.recurring.amount, currency: s.currency }, interval: summary.recurring.interval, starts_at: summary.recurring.starts_at }
      : null,
    status: s.status,
    payment_status: s.payment_status,
    url: s.status === 'open' ? s.provider_url : null,
    success_url: s.success_url,
    cancel_url: s.cancel_url,
    trial_days: s.trial_days,
    promotion_code: s.promotion_code,
    details: s.details,
    created_at: s.created_at,
    expires_at: s.expires_at,
    completed_at: s.completed_at,
  };
}

export function fillSessionId(url: string, sessionId: string): string {
  return url.replaceAll('{CHECKOUT_SESSION_ID}', sessionId);
}

type CheckoutOpts = { paymentLinkId?: string; requestKey?: string };
type CheckoutReply = { status: number; body: Record<string, unknown> };
type CheckoutCustomer = { id: string; email: string | null } | null;

/** The provider a checkout goes to: the one asked for, else the project's default. */
function checkoutProvider(ctx: AppContext, body: CheckoutBody, defaultProvider: string) {
  const name = (body.provider ?? defaultProvider) as ProviderName;
  const provider = getProvider(ctx, name);
  if (!provider) throw new InvalidRequestError(`Provider '${name}' is not available`, 'provider');
  return { name, provider };
}

/** The item the body names, priced by the capability that sells it (or completed at once). */
async function resolveItem(
  ctx: AppContext,
  q: Queryable,
  e: { projectId: string; customerId: string | null; body: CheckoutBody; at: Date },
): Promise<CheckoutItem | { complete: Record<string, unknown> }> {
  const itemType = e.body.credit_pack ? 'credit_pack' : e.body.plan ? 'plan' : 'order';
  const builder = ctx.registry.checkoutItems.get(itemType);
  if (!builder) throw new InvalidRequestError(`Checkout for ${itemType} is not available`, itemType === 'order' ? 'order_id' : itemType);
  return builder(ctx, q, e);
}

/** What the customer is shown; it must say the same amount due today as the item charges. */
function checkedSummary(item: CheckoutItem, at: Date): PriceSummary {
  const summary =
    item.summary ??
    priceSummary({ currency: item.currency, lines: item.lineItems.map((l) => ({ name: l.name, unitAmount: l.amount, quantity: l.quantity })), at });
  if (summary.amount_due_today !== item.amount) {
    throw new Error(`checkout ${item.itemType} ${item.itemId}: summary says ${summary.amount_due_today} due today, item ${item.amount}`);
  }
  return summary;
}

/**
 * The item as charged, tax included: an exclusive price gets the VAT of the buyer's country added on
 * top (to today's charge and to the recurring one), shown as its own line; an inclusive price is
 * charged as it is. A provider that computes tax itself (Stripe Tax) is left to add it.
 */
async function withTax(
  ctx: AppContext,
  q: Queryable,
  item: CheckoutItem,
  e: { projectId: string; customerId: string | null; body: CheckoutBody; at: Date; providerComputesTax: boolean },
): Promise<CheckoutItem> {
  const summary = checkedSummary(item, e.at);
  const behavior = await taxBehaviorOf(ctx, e.projectId, item.taxBehavior);
  if (e.providerComputesTax) {
    const tax = { behavior, computed_by: 'stripe' as const, rate: null, country: null, treatment: null, net: item.amount, amount: null };
    return { ...item, taxBehavior: behavior, summary: { ...summary, tax } };
  }
  const given = e.body.billing_details;
  const charge = (amount: number) =>
    chargeFor(ctx, q, {
      projectId: e.projectId,
      customerId: e.customerId,
      amount,
      behavior,
      billing: given ? { country: given.country, vat_id: given.vat_id ?? null } : null,
      at: e.at,
    });
  const today = await charge(item.amount);
  const tax = { behavior, computed_by: 'tollgate' as const, rate: today.rate, country: today.country, treatment: today.treatment, net: today.net, amount: today.tax };
  if (behavior === 'inclusive') return { ...item, taxBehavior: behavior, summary: { ...summary, tax } };
  const recurring = summary.recurring ? { ...summary.recurring, amount: (await charge(summary.recurring.amount)).total } : null;
  // The provider charges what the page shows: the net lines and one VAT line (recurring with a plan).
  const interval = item.lineItems[0]?.interval;
  const vatLine = { name: `VAT ${formatRate(today.rate)} (${today.country})`, amount: today.tax, currency: item.currency, quantity: 1, ...(interval ? { interval } : {}) };
  return {
    ...item,
    taxBehavior: behavior,
    amount: today.total,
    lineItems: today.tax > 0 ? [...item.lineItems, vatLine] : item.lineItems,
    summary: { ...summary, amount_due_today: today.total, recurring, tax },
  };
}

/** Stores the open session Tollgate will fulfil when the provider reports it paid. */
function insertOpenSession(
  q: Queryable,
  e: { id: string; projectId: string; providerName: string; customer: CheckoutCustomer; body: CheckoutBody; item: CheckoutItem; opts: CheckoutOpts; at: Date; expiresAt: Date },
) {
  const { id, body, item, customer } = e;
  return repo.insertSession(q, {
    id,
    project_id: e.projectId,
    customer_id: customer?.id ?? null,
    provider: e.providerName,
    mode: item.mode,
    item_type: item.itemType,
    item_id: item.itemId,
    quantity: item.quantity,
    amount: item.amount,
    currency: item.currency,
    success_url: fillSessionId(body.success_url, id),
    cancel_url: fillSessionId(body.cancel_url, id),
    trial_days: item.trialDays ?? null,
    promotion_code: body.promotion_code ?? null,
    payment_link_id: e.opts.paymentLinkId ?? null,
    customer_email: customer?.email ?? body.customer_email ?? null,
    details: {
      ...item.details,
      summary: checkedSummary(item, e.at),
      metadata: body.metadata ?? {},
      ...(body.billing_details ? { billing: body.billing_details } : {}),
      ...(body.ip_country ? { evidence: { ip_country: body.ip_country } } : {}),
    },
    created_at: e.at,
    expires_at: e.expiresAt,
  });
}

/**
 * Opens a checkout session in three steps, so that no database transaction is held while the
 * provider answers: (1) a short transaction records the session (the intent), (2) the provider is
 * called outside any transaction, bounded by `TOLLGATE_PROVIDER_TIMEOUT_MS`, with a key derived from
 * the session so a repeat is replayed by the provider, (3) its reference is stored. A provider that
 * fails leaves nothing behind; a session recorded by a process that died before (3) is resumed by a
 * retry with the same Idempotency-Key.
 */
export async function createCheckout(
  ctx: AppContext,
  caller: Caller,
  body: CheckoutBody,
  opts: CheckoutOpts = {},
): Promise<CheckoutReply> {
  const projectId = caller.projectId;
  const project = await getProject(ctx, projectId);
  const { name: providerName, provider } = checkoutProvider(ctx, body, project.default_provider);
  if (project.mode === 'live') await requireLiveProvider(ctx, projectId, providerName);
  if (!body.customer_id && !opts.paymentLinkId) throw new InvalidRequestError('customer_id is required', 'customer_id');
  const providerComputesTax = provider.computesTax ? provider.computesTax((await providerCall(ctx, projectId, provider.name)).settings) : false;
  const intent = await ctx.db.tx(async (q): Promise<CheckoutReply | { session: repo.CheckoutSessionRow; item: CheckoutItem | null; customer: CheckoutCustomer }> => {
    const customer = body.customer_id
      ? (await ensureCustomer(ctx, q, projectId, body.customer_id, { email: body.customer_email ?? null })).customer
      : null;
    // With an Idempotency-Key the session id is derived from it: a retry after our last step failed
    // (the provider call having succeeded) makes the same provider call again, which the provider replays.
    const id = opts.requestKey ? derivedId('checkout', `${projectId}:${opts.requestKey}`) : newId('checkout');
    const prior = opts.requestKey ? await repo.findSession(q, id, projectId) : undefined;
    if (prior) return prior.provider_ref || prior.status !== 'open' ? { status: 201, body: sessionView(prior) } : { session: prior, item: null, customer };
    const at = await projectNow(ctx, projectId);
    const built = await resolveItem(ctx, q, { projectId, customerId: customer?.id ?? null, body, at });
    if ('complete' in built) return { status: 201, body: built.complete };
    const item = await withTax(ctx, q, built, { projectId, customerId: customer?.id ?? null, body, at, providerComputesTax });
    const expiresAt = item.expiresAt ?? new Date(at.getTime() + SESSION_TTL_MS);
    const session = await insertOpenSession(q, { id, projectId, providerName, customer, body, item, opts, at, expiresAt });
    return { session, item, customer };
  });
  if (!('session' in intent)) return intent;
  const { session, customer } = intent;
  let item = intent.item;
  if (!item) {
    // Resuming a session recorded before a crash: its item is priced again exactly as stored.
    const built = await resolveItem(ctx, ctx.db, { projectId, customerId: customer?.id ?? null, body, at: session.created_at });
    if ('complete' in built) return { status: 201, body: built.complete };
    item = await withTax(ctx, ctx.db, built, { projectId, customerId: customer?.id ?? null, body, at: session.created_at, providerComputesTax });
  }
  const id = session.id;
  let created: CreateCheckoutResult;
  try {
    created = await provider.createCheckout(await providerCall(ctx, projectId, provider.name), {
      project,
      sessionId: id,
      mode: item.mode,
      customer: { id: customer?.id ?? '', email: customer?.email ?? body.customer_email ?? null },
      lineItems: item.lineItems,
      successUrl: session.success_url,
      cancelUrl: session.cancel_url,
      trialDays: item.trialDays ?? null,
      trialWithoutCard: item.trialWithoutCard ?? false,
      promotionCode: body.promotion_code ?? null,
      discount: item.discount ?? null,
      expiresAt: session.expires_at,
      taxBehavior: item.taxBehavior,
      idempotencyKey: `tollgate-checkout-${id}`,
      metadata: { tollgate_project: projectId, tollgate_session: id, tollgate_customer: customer?.id ?? '' },
    });
  } catch (err) {
    // Nothing was sold: the recorded intent goes, as the transaction's rollback did before.
    await repo.deleteUnsentSession(ctx.db, projectId, id);
    throw err;
  }
  const withRef = await repo.setSessionProvider(ctx.db, id, created.providerRef, created.url);
  return { status: 201, body: { ...sessionView(withRef), url: created.url } };
}

export async function getSession(q: Queryable, projectId: string, id: string) {
  const s = await repo.findSession(q, id, projectId);
  if (!s) throw new NotFoundError('checkout session', id);
  return sessionView(s);
}
