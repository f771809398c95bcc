import { z } from 'zod';
import { describeSummary, priceSummary } from '../../domain/pricing.ts';
import type { Queryable } from '../../db/db.ts';
import { findPack, findPlan } from '../../domain/catalog.ts';
import { ForbiddenError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId, randomToken } from '../../domain/ids.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog, getShownCatalog } from '../catalog/catalog.service.ts';
import { CustomerIdSchema, ensureCustomer, requireCustomer } from '../customers/customers.service.ts';
import { type CheckoutBody, createCheckout } from '../payments/checkout.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { findProviderCustomerRef } from '../providers/providers.repository.ts';
import * as repo from './subscriptions.repository.ts';
import { currentView, requirePlan } from './subscriptions.view.ts';
import { providerCall } from '../providers/provider-call.ts';

const Url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000);
export const PORTAL_TTL_MS = 60 * 60 * 1000;

export const PortalBody = z.object({ customer_id: CustomerIdSchema, return_url: Url }).strict();

/** `POST /v1/portal`: the provider's portal, or Tollgate's own hosted page for sandbox projects. */
export async function createPortal(ctx: AppContext, q: Queryable, caller: Caller, body: z.infer<typeof PortalBody>) {
  const projectId = caller.projectId;
  await ensureCustomer(ctx, q, projectId, body.customer_id);
  const project = await getProject(ctx, projectId);
  const at = await projectNow(ctx, projectId);
  const provider = getProvider(ctx, project.default_provider);
  if (project.default_provider !== 'sandbox' && provider?.createPortal) {
    const customerRef = await findProviderCustomerRef(q, projectId, body.customer_id, project.default_provider);
    const r = await provider.createPortal(await providerCall(ctx, projectId, project.default_provider), {
      project,
      customerId: body.customer_id,
      customerRef: customerRef ?? null,
      returnUrl: body.return_url,
      idempotencyKey: `tollgate-portal-${projectId}-${body.customer_id}-${at.getTime()}`,
    });
    return { object: 'portal_session', url: r.url, provider: project.default_provider };
  }
  const id = `ps_${randomToken(32)}`;
  const expiresAt = new Date(at.getTime() + PORTAL_TTL_MS);
  await repo.insertPortalSession(q, { id, project_id: projectId, customer_id: body.customer_id, return_url: body.return_url, created_at: at, expires_at: expiresAt });
  return { object: 'portal_session', url: `${ctx.config.publicUrl}/portal/${id}`, provider: 'sandbox', expires_at: expiresAt };
}

/** A live portal session, or 404/403; the unguessable id is the capability. */
export async function openPortal(ctx: AppContext, id: string) {
  const s = await repo.findPortalSession(ctx.db, id);
  if (!s) throw new NotFoundError('portal session', id);
  const now = await projectNow(ctx, s.project_id);
  if (s.expires_at.getTime() <= now.getTime()) throw new ForbiddenError('This portal link has expired; open the portal again from the app');
  const caller: Caller = {
    projectId: s.project_id,
    keyId: 'portal',
    kind: 'customer_session',
    scopes: [],
    customerId: s.customer_id,
    actor: `customer:${s.customer_id}`,
  };
  return { session: s, caller };
}

/** What the portal page shows. */
export async function portalState(ctx: AppContext, projectId: string, customerId: string) {
  const [{ catalog }, now, row, card, payments] = await Promise.all([
    getShownCatalog(ctx, projectId),
    projectNow(ctx, projectId),
    repo.findCurrentSubscription(ctx.db, projectId, customerId),
    paymentsRepo.defaultPaymentMethod(ctx.db, projectId, customerId),
    repo.listCustomerPayments(ctx.db, projectId, customerId, 20),
  ]);
  return { catalog, now, subscription: currentView(row, catalog, now, customerId, row?.status === 'trialing' && row.provider === 'sandbox' ? { cardOnFile: card !== undefined } : {}), card: card ?? null, payments };
}

// Payment links ------------------------------------------------------------------------------------

export const PaymentLinkBody = z
  .object({
    plan: z.string().min(1).max(64).optional(),
    credit_pack: z.string().min(1).max(64).optional(),
    quantity: z.number().int().min(1).max(10_000).default(1),
    trial_days: z.number().int().min(0).max(730).optional(),
    success_url: Url.optional(),
    cancel_url: Url.optional(),
    metadata: z.record(z.string(), z.string().max(500)).optional(),
  })
  .strict()
  .refine((b) => (b.plan === undefined) !== (b.credit_pack === undefined), { message: 'send exactly one of "plan" or "credit_pack"', path: ['plan'] });

export function paymentLinkView(ctx: AppContext, l: repo.PaymentLinkRow) {
  return {
    id: l.id,
    object: 'payment_link',
    url: `${ctx.config.publicUrl}/pay/${l.id}`,
    [l.item_type]: l.item_id,
    item_type: l.item_type,
    quantity: l.quantity,
    trial_days: l.trial_days,
    success_url: l.success_url,
    cancel_url: l.cancel_url,
    active: l.active,
    metadata: l.metadata,
    created_at: l.created_at,
  };
}

export async function createPaymentLink(ctx: AppContext, q: Queryable, caller: Caller, body: z.infer<typeof PaymentLinkBody>) {
  const { catalog } = await getCatalog(ctx, caller.projectId);
  if (body.plan) {
    const plan = requirePlan(catalog, body.plan);
    if (!plan.per_seat && body.quantity !== 1) throw new InvalidRequestError(`Plan '${plan.id}' is not sold per seat`, 'quantity');
  } else {
    const pack = findPack(catalog, body.credit_pack as string);
    if (!pack?.active) throw new InvalidRequestError(`Unknown credit pack '${body.credit_pack}'`, 'credit_pack');
    // The buyer picks a pay-what-you-want amount on the hosted credits page; a link has no amount to charge.
    if (pack.pay_what_you_want) throw new InvalidRequestError(`Credit pack '${pack.id}' is pay what you want: a payment link cannot sell it`, 'credit_pack');
  }
  const at = await projectNow(ctx, caller.projectId);
  const link = await repo.insertPaymentLink(q, {
    id: newId('paymentLink'),
    project_id: caller.projectId,
    item_type: body.plan ? 'plan' : 'credit_pack',
    item_id: (body.plan ?? body.credit_pack) as string,
    quantity: body.quantity,
    trial_days: body.trial_days ?? null,
    success_url: body.success_url ?? null,
    cancel_url: body.cancel_url ?? null,
    active: true,
    metadata: body.metadata ?? {},
    created_at: at,
  });
  await audit(q, caller, { action: 'payment_link.created', target: link.id, details: { item_type: link.item_type, item_id: link.item_id } }, at);
  return paymentLinkView(ctx, link);
}

export async function getPaymentLink(ctx: AppContext, projectId: string, id: string) {
  const l = await repo.findPaymentLink(ctx.db, id, projectId);
  if (!l) throw new NotFoundError('payment link', id);
  return paymentLinkView(ctx, l);
}

/** What a payment link sells, for its page. */
export async function describeLink(ctx: AppContext, l: repo.PaymentLinkRow) {
  const { catalog } = await getShownCatalog(ctx, l.project_id);
  if (l.item_type === 'plan') {
    const plan = findPlan(catalog, l.item_id);
    if (!plan) return null;
    // What a new buyer is offered (the checkout page then states the buyer's own figures before payment).
    const trialDays = l.trial_days ?? catalog.default_trial?.days ?? plan.trial_days;
    const summary = priceSummary({
      currency: plan.price.currency,
      lines: [{ name: plan.name, unitAmount: plan.price.amount, quantity: l.quantity }],
      subscription: { interval: plan.interval, trialDays },
      at: new Date(0),
    });
    return {
      catalog,
      name: `${plan.name} plan`,
      price: { amount: plan.price.amount * l.quantity, currency: plan.price.currency },
      interval: plan.interval as string | null,
      headline: describeSummary(summary, catalog.locale ?? 'en').headline as string | null,
    };
  }
  const pack = findPack(catalog, l.item_id);
  return pack ? { catalog, name: `${pack.name} — ${pack.credits} credits`, price: pack.price, interval: null, headline: null } : null;
}

/** The payment link page's form: a checkout session for whoever typed this e-mail. */
export async function checkoutFromLink(ctx: AppContext, linkId: string, email: string) {
  const l = await repo.findPaymentLink(ctx.db, linkId);
  if (!l?.active) throw new NotFoundError('payment link', linkId);
  const parsed = z.email().max(320).safeParse(email.trim());
  if (!parsed.success) throw new InvalidRequestError('Enter a valid e-mail address', 'email');
  const caller: Caller = { projectId: l.project_id, keyId: 'payment_link', kind: 'operator', scopes: [], actor: `payment_link:${l.id}` };
  const base = `${ctx.config.publicUrl}/pay/${l.id}`;
  // The checkout is priced for the buyer's real trial state: an existing customer's (a running
  // default trial kept, a used trial not given again), or, where the catalog starts a default trial,
  // the new customer's (created now). A new buyer elsewhere is priced as new and created on payment.
  const customerId = parsed.data.toLowerCase();
  const { catalog } = await getCatalog(ctx, l.project_id);
  const known =
    catalog.default_trial !== undefined && catalog.default_trial !== null
      ? true
      : await requireCustomer(ctx.db, l.project_id, customerId).then(
          () => true,
          () => false,
        );
  const body: CheckoutBody = {
    ...(known ? { customer_id: customerId } : {}),
    customer_email: parsed.data,
    ...(l.item_type === 'plan' ? { plan: l.item_id } : { credit_pack: l.item_id }),
    quantity: l.quantity,
    success_url: l.success_url ?? `${base}/thanks?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: l.cancel_url ?? base,
    ...(l.trial_days !== null ? { trial_days: l.trial_days } : {}),
  };
  const out = await createCheckout(ctx, caller, body, { paymentLinkId: l.id });
  return out.body as { url?: string | null; session_id?: string | null; status?: string };
}

/**
 * A billing-portal link for an e-mail: Tollgate's own portal page (sandbox projects), valid `ttlMs`
 * from `at`; null for projects whose portal is the provider's (its links expire within minutes).
 */
export async function emailPortalLink(ctx: AppContext, q: Queryable, projectId: string, customerId: string, at: Date, ttlMs: number): Promise<string | null> {
  const project = await getProject(ctx, projectId);
  if (project.default_provider !== 'sandbox') return null;
  const id = `ps_${randomToken(32)}`;
  await repo.insertPortalSession(q, { id, project_id: projectId, customer_id: customerId, return_url: ctx.config.publicUrl, created_at: at, expires_at: new Date(at.getTime() + ttlMs) });
  return `${ctx.config.publicUrl}/portal/${id}`;
}
