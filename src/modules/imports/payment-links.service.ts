import type { SessionAdopter } from '../../app/registry.ts';
import type { Queryable } from '../../db/db.ts';
import { findPack, findPlan } from '../../domain/catalog.ts';
import { newId } from '../../domain/ids.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { ensureCustomer } from '../customers/customers.service.ts';
import * as payments from '../payments/payments.repository.ts';
import { projectNow } from '../projects/projects.service.ts';
import { findCustomerByProviderRef, linkProviderCustomer } from '../providers/providers.repository.ts';

/**
 * Existing Stripe Payment Links (https://buy.stripe.com/...) a product already shares: adopted by
 * `tollgate import stripe` when their price is bound to a catalog pack or plan, so a payment made
 * through one grants the pack (or starts the plan) for the buyer, like a Tollgate checkout.
 */
/** One line of an adopted link: its Stripe price, the catalog item it is bound to, how many. */
export interface LinkLine {
  price_ref: string;
  kind: 'plan' | 'pack';
  item_id: string;
  quantity: number;
}

export interface AdoptedLinkRow {
  project_id: string;
  link_ref: string;
  url: string;
  price_ref: string;
  kind: 'plan' | 'pack';
  item_id: string;
  /** Every line ([] for a link adopted before lines were kept: the one line of the columns above). */
  lines: LinkLine[];
  created_at: Date;
}

/** Adopts (or updates) a link; `lines` is one plan alone or packs only. True when something changed. */
export async function adoptLink(q: Queryable, l: { projectId: string; linkRef: string; url: string; lines: LinkLine[]; at: Date }): Promise<boolean> {
  const [first] = l.lines;
  if (!first) throw new Error(`payment link ${l.linkRef} has no lines`);
  const r = await q.query(
    `INSERT INTO stripe_payment_links (project_id, link_ref, url, price_ref, kind, item_id, lines, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (project_id, link_ref) DO UPDATE SET url = EXCLUDED.url, price_ref = EXCLUDED.price_ref, kind = EXCLUDED.kind, item_id = EXCLUDED.item_id,
       lines = EXCLUDED.lines
       WHERE stripe_payment_links.price_ref <> EXCLUDED.price_ref OR stripe_payment_links.item_id <> EXCLUDED.item_id OR stripe_payment_links.url <> EXCLUDED.url
          OR stripe_payment_links.lines <> EXCLUDED.lines
     RETURNING 1`,
    [l.projectId, l.linkRef, l.url, first.price_ref, first.kind, first.item_id, JSON.stringify(l.lines), l.at],
  );
  return r.rowCount > 0;
}

/** The link's lines (one made of the columns for a link adopted before lines were kept). */
export function linesOf(link: AdoptedLinkRow): LinkLine[] {
  return Array.isArray(link.lines) && link.lines.length > 0 ? link.lines : [{ price_ref: link.price_ref, kind: link.kind, item_id: link.item_id, quantity: 1 }];
}

export async function findAdoptedLink(q: Queryable, projectId: string, linkRef: string): Promise<AdoptedLinkRow | undefined> {
  return (await q.query<AdoptedLinkRow>('SELECT * FROM stripe_payment_links WHERE project_id = $1 AND link_ref = $2', [projectId, linkRef])).rows[0];
}

/** A Checkout Session Stripe made for an adopted Payment Link: recorded as Tollgate's own, so the usual fulfilment grants what was bought. */
export const adoptPaymentLinkSession: SessionAdopter = async (ctx, q, ev, event) => {
  if (ev.provider !== 'stripe' || !event.paymentLinkRef) return undefined;
  const link = await findAdoptedLink(q, ev.projectId, event.paymentLinkRef);
  if (!link) return undefined;
  const { catalog } = await getCatalog(ctx, ev.projectId);
  const lines = linesOf(link);
  const item = link.kind === 'pack' ? findPack(catalog, link.item_id) : findPlan(catalog, link.item_id);
  if (!item) return undefined;
  // Packs only: what the session grants is every line's credits times its quantity.
  const packs = lines.map((l) => ({ line: l, pack: l.kind === 'pack' ? findPack(catalog, l.item_id) : undefined }));
  if (link.kind === 'pack' && packs.some((p) => !p.pack)) return undefined;
  const credits = packs.reduce((s, p) => s + (p.pack?.credits ?? 0) * p.line.quantity, 0);
  const several = lines.length > 1 || (lines[0]?.quantity ?? 1) > 1;
  const name = several ? packs.map((p) => `${p.pack?.name ?? p.line.item_id}${p.line.quantity > 1 ? ` × ${p.line.quantity}` : ''}`).join(' + ') : item.name;
  const at = await projectNow(ctx, ev.projectId);
  // The buyer: the customer Stripe names if Tollgate knows it, else the one the e-mail names.
  let customerId = event.customerRef ? await findCustomerByProviderRef(q, ev.projectId, 'stripe', event.customerRef) : undefined;
  if (!customerId && event.customerEmail) {
    customerId = event.customerEmail.toLowerCase();
    await ensureCustomer(ctx, q, ev.projectId, customerId, { email: event.customerEmail });
    if (event.customerRef) await linkProviderCustomer(q, { projectId: ev.projectId, customerId, provider: 'stripe', ref: event.customerRef, at });
  }
  const session = await payments.insertSession(q, {
    id: newId('checkout'),
    project_id: ev.projectId,
    customer_id: customerId ?? null,
    provider: 'stripe',
    mode: link.kind === 'plan' ? 'subscription' : 'payment',
    item_type: link.kind === 'plan' ? 'plan' : 'credit_pack',
    item_id: link.item_id,
    quantity: 1,
    amount: event.amount ?? item.price.amount,
    currency: event.currency ?? item.price.currency,
    success_url: link.url,
    cancel_url: link.url,
    trial_days: null,
    promotion_code: null,
    payment_link_id: null,
    customer_email: event.customerEmail ?? null,
    // What the fulfilment reads, as a Tollgate checkout of the same item records it.
    details: {
      ...(link.kind === 'pack' ? { credits } : {}),
      name,
      ...(several ? { lines: packs.map((p) => ({ price_ref: p.line.price_ref, pack: p.line.item_id, quantity: p.line.quantity, credits: p.pack?.credits ?? 0 })) } : {}),
      stripe_payment_link: link.link_ref,
      stripe_payment_link_url: link.url,
    },
    created_at: at,
    expires_at: at,
  });
  return payments.setSessionProvider(q, session.id, event.sessionRef, link.url);
};
