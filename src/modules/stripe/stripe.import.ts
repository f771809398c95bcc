import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { AppContext } from '../../app/context.ts';
import { ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import { findCustomerByProviderRef, linkProviderCustomer } from '../providers/providers.repository.ts';
import { callStripe, stripeFor } from '../../providers/stripe/stripe.client.ts';
import { LOOKUP_KEY } from '../../providers/stripe/stripe.events.ts';
import { ingestStripeEvent } from './stripe.reconcile.ts';
import * as repo from './stripe.repository.ts';
import { providerCall } from '../providers/provider-call.ts';
import { findPriceBinding } from '../imports/imports.repository.ts';
import { adoptLink, type LinkLine } from '../imports/payment-links.service.ts';

export type ImportPhase = 'customers' | 'prices' | 'payment_links' | 'subscriptions';

export interface ImportResult {
  object: 'stripe_import';
  customers: { seen: number; imported: number };
  products: { seen: number };
  prices: { seen: number; mapped: number };
  /**
   * Payment Links (buy.stripe.com) whose every price is bound to a catalog pack or plan: adopted;
   * the others are left as they are, each with why (the unbound price it names).
   */
  payment_links: { seen: number; adopted: number; refused: { id: string; url: string; message: string }[] };
  subscriptions: { seen: number; applied: number };
}

/**
 * Brings an existing Stripe account into a project: customers (linked by Stripe id), the prices
 * that belong to this project's catalog (by lookup key), and subscriptions (applied as events whose
 * ids are derived from their state, so a second run changes nothing). Paged through the SDK.
 */
export async function importStripe(
  ctx: AppContext,
  projectId: string,
  onProgress: (phase: ImportPhase, seen: number) => void = () => {},
): Promise<ImportResult> {
  const { stripe } = stripeFor(await providerCall(ctx, projectId, 'stripe'));
  const r: ImportResult = {
    object: 'stripe_import',
    customers: { seen: 0, imported: 0 },
    products: { seen: 0 },
    prices: { seen: 0, mapped: 0 },
    payment_links: { seen: 0, adopted: 0, refused: [] },
    subscriptions: { seen: 0, applied: 0 },
  };

  await callStripe('customers.list', async () => {
    for await (const c of stripe.customers.list({ limit: 100 })) {
      r.customers.seen++;
      onProgress('customers', r.customers.seen);
      if ('deleted' in c && c.deleted) continue;
      if (await findCustomerByProviderRef(ctx.db, projectId, 'stripe', c.id)) continue;
      const id = c.metadata?.tollgate_customer || c.email?.toLowerCase() || c.id;
      await ctx.db.tx(async (q) => {
        // Moved in, not signing up: no sign-up credits, no default trial.
        await ensureCustomer(ctx, q, projectId, id, { email: c.email ?? null, name: c.name ?? null }, { imported: true });
        await linkProviderCustomer(q, { projectId, customerId: id, provider: 'stripe', ref: c.id, at: await projectNow(ctx, projectId) });
      });
      r.customers.imported++;
    }
  });

  const products = new Set<string>();
  await callStripe('prices.list', async () => {
    for await (const p of stripe.prices.list({ limit: 100, active: true, expand: ['data.product'] })) {
      r.prices.seen++;
      onProgress('prices', r.prices.seen);
      const product = p.product as Stripe.Product;
      products.add(typeof p.product === 'string' ? p.product : product.id);
      const m = p.lookup_key?.match(LOOKUP_KEY);
      if (!m || m[1] !== projectId || p.unit_amount === null) continue;
      const kind = m[2] as repo.CatalogKind;
      const existing = await repo.findPrice(ctx.db, projectId, kind, m[3] as string);
      if (existing?.price_ref === p.id) continue;
      await repo.upsertPrice(ctx.db, {
        project_id: projectId,
        kind,
        item_id: m[3] as string,
        lookup_key: p.lookup_key as string,
        product_ref: typeof p.product === 'string' ? p.product : product.id,
        price_ref: p.id,
        name: typeof p.product === 'string' ? (p.nickname ?? p.id) : product.name,
        amount: p.unit_amount,
        currency: p.currency,
        interval: p.recurring?.interval ?? null,
        active: true,
        synced_at: ctx.clock.now(),
      });
      r.prices.mapped++;
    }
  });
  r.products.seen = products.size;

  await callStripe('paymentLinks.list', async () => {
    for await (const link of stripe.paymentLinks.list({ limit: 100, active: true, expand: ['data.line_items'] })) {
      r.payment_links.seen++;
      onProgress('payment_links', r.payment_links.seen);
      // A link has at most 20 line items; the expanded list may hold only the first 10.
      const listed = link.line_items;
      const items = listed && !listed.has_more ? listed.data : (await stripe.paymentLinks.listLineItems(link.id, { limit: 100 })).data;
      const bound = await bindLinkLines(ctx, projectId, items);
      if ('refused' in bound) {
        r.payment_links.refused.push({ id: link.id, url: link.url, message: `Payment Link ${link.id} (${link.url}) not adopted: ${bound.refused}` });
        continue;
      }
      if (await adoptLink(ctx.db, { projectId, linkRef: link.id, url: link.url, lines: bound.lines, at: ctx.clock.now() })) r.payment_links.adopted++;
    }
  });

  await callStripe('subscriptions.list', async () => {
    for await (const s of stripe.subscriptions.list({ status: 'all', limit: 100 })) {
      r.subscriptions.seen++;
      onProgress('subscriptions', r.subscriptions.seen);
      const type = s.status === 'canceled' ? 'customer.subscription.deleted' : 'customer.subscription.updated';
      const state = createHash('sha256')
        .update(JSON.stringify([s.status, s.cancel_at_period_end, s.cancel_at, s.items.data.map((i) => [i.price.id, i.quantity, i.current_period_end])]))
        .digest('hex')
        .slice(0, 16);
      const created = Math.floor(ctx.clock.now().getTime() / 1000);
      const event = { id: `import_${s.id}_${state}`, object: 'event', type, created, livemode: s.livemode, data: { object: s } };
      if ((await ingestStripeEvent(ctx, projectId, { id: event.id, type, created, payload: event })) === 'new') r.subscriptions.applied++;
    }
  });
  return r;
}

/**
 * Each line of a Payment Link bound to its catalog item; refused (with the reason) when a price is
 * bound to none, or when the lines are not one plan alone or packs only (Tollgate runs one plan per
 * customer, and fulfils a plan's checkout with the plan only).
 */
async function bindLinkLines(
  ctx: AppContext,
  projectId: string,
  items: Stripe.LineItem[],
): Promise<{ lines: LinkLine[] } | { refused: string }> {
  if (items.length === 0) return { refused: 'it has no line items' };
  const lines: LinkLine[] = [];
  const unbound: string[] = [];
  for (const li of items) {
    const price = li.price?.id;
    if (!price) return { refused: 'a line item has no price' };
    const item = await catalogItemOfPrice(ctx, projectId, price);
    if (!item) unbound.push(price);
    else lines.push({ price_ref: price, kind: item.kind, item_id: item.itemId, quantity: li.quantity ?? 1 });
  }
  if (unbound.length > 0) {
    return {
      refused: `price${unbound.length > 1 ? 's' : ''} ${unbound.join(', ')} ${unbound.length > 1 ? 'are' : 'is'} bound to no catalog plan or pack (bind ${unbound.length > 1 ? 'them' : 'it'} with STRIPE_PRICE_<ITEM> / --bind-prices, or POST /v1/providers/stripe/price-bindings)`,
    };
  }
  const plans = lines.filter((l) => l.kind === 'plan');
  if (plans.length > 0 && lines.length > 1) {
    return { refused: `it sells ${lines.map((l) => `${l.kind} ${l.item_id}`).join(' + ')}: an adopted link sells one plan alone, or credit packs only` };
  }
  return { lines };
}

/** The catalog pack or plan a Stripe price stands for: bound (STRIPE_PRICE_*), or synced by the catalog (lookup key). */
async function catalogItemOfPrice(ctx: AppContext, projectId: string, priceRef: string): Promise<{ kind: 'plan' | 'pack'; itemId: string } | undefined> {
  const bound = await findPriceBinding(ctx.db, projectId, priceRef);
  if (bound) return { kind: bound.kind, itemId: bound.item_id };
  const synced = await repo.findPriceByRef(ctx.db, projectId, priceRef);
  return synced && (synced.kind === 'plan' || synced.kind === 'pack') ? { kind: synced.kind, itemId: synced.item_id } : undefined;
}
