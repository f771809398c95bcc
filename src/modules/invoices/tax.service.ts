import type { Queryable } from '../../db/db.ts';
import { decideVat, splitInclusive, type TaxBehavior, taxOnTop, type VatDecision } from '../../domain/vat-rates.ts';
import type { AppContext } from '../../app/context.ts';
import { getProject, projectsRepository } from '../projects/projects.service.ts';
import * as repo from './invoices.repository.ts';

/**
 * What is charged for a price, for one customer: the one computation behind the checkout session,
 * the hosted page, subscription renewals, prorations and the invoice that follows.
 */
export interface ChargeTax {
  tax_behavior: TaxBehavior;
  /** Net amount (minor units). */
  net: number;
  /** VAT (minor units): added on top when exclusive, contained in the price when inclusive. */
  tax: number;
  /** What is charged: net + VAT. */
  total: number;
  rate: number;
  treatment: VatDecision['treatment'];
  country: string | null;
}

interface Settings {
  seller?: { country?: string | null; vat_id?: string | null };
  vat_rates?: Record<string, number>;
  prices_include_tax?: boolean;
}

function settingsOf(project: { settings: Record<string, unknown> }): Settings {
  return (project.settings.invoicing as Settings | undefined) ?? {};
}

/** A price's tax behaviour: its own `tax_behavior`, else the project's `prices_include_tax` (default true). */
export async function taxBehaviorOf(ctx: AppContext, projectId: string, own: TaxBehavior | undefined): Promise<TaxBehavior> {
  if (own) return own;
  return settingsOf(await getProject(ctx, projectId)).prices_include_tax === false ? 'exclusive' : 'inclusive';
}

/**
 * What a customer is charged for an amount at a price's tax behaviour. The buyer's country is the
 * one given (checkout billing details), else the customer's billing details, else the seller's.
 * Exclusive: VAT of that country is added on top (none for a reverse charge or outside the EU).
 * Inclusive: the amount is charged as it is, and split into net and VAT.
 */
export async function chargeFor(
  ctx: AppContext,
  q: Queryable,
  e: {
    projectId: string;
    customerId: string | null;
    amount: number;
    behavior: TaxBehavior;
    billing?: { country: string; vat_id?: string | null } | null;
    at: Date;
  },
): Promise<ChargeTax> {
  const s = settingsOf(await getProject(ctx, e.projectId));
  const stored = !e.billing && e.customerId ? await repo.findBillingDetails(q, e.projectId, e.customerId) : undefined;
  const buyer = e.billing ?? stored;
  const vat = decideVat({
    sellerCountry: s.seller?.country ?? null,
    sellerVatId: s.seller?.vat_id ?? null,
    buyerCountry: buyer?.country ?? null,
    buyerVatId: buyer?.vat_id ?? null,
    at: e.at,
    overrides: s.vat_rates,
  });
  const base = { tax_behavior: e.behavior, rate: vat.rate, treatment: vat.treatment, country: vat.country };
  if (e.behavior === 'exclusive') {
    const tax = taxOnTop(e.amount, vat.rate);
    return { ...base, net: e.amount, tax, total: e.amount + tax };
  }
  const split = splitInclusive(e.amount, vat.rate);
  return { ...base, net: split.net, tax: split.tax, total: e.amount };
}

/**
 * The VAT rate (percent) added on top of a customer's exclusive price on a date: the rate chargeFor
 * would apply (0 for a reverse charge, outside the EU or without a VAT-registered seller). Reads only
 * through `q`, for views that state the next charge.
 */
export async function rateOnTop(q: Queryable, projectId: string, customerId: string, at: Date): Promise<number> {
  const project = await projectsRepository.findProject(q, projectId);
  const s = project ? settingsOf(project) : {};
  const buyer = await repo.findBillingDetails(q, projectId, customerId);
  return decideVat({
    sellerCountry: s.seller?.country ?? null,
    sellerVatId: s.seller?.vat_id ?? null,
    buyerCountry: buyer?.country ?? null,
    buyerVatId: buyer?.vat_id ?? null,
    at,
    overrides: s.vat_rates,
  }).rate;
}
