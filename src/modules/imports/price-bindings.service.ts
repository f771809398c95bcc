import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { findPack, findPlan } from '../../domain/catalog.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import * as repo from './imports.repository.ts';

/**
 * Existing Stripe prices (the `STRIPE_PRICE_<PLAN>` ids a product was configured with) bound to
 * catalog plans and packs: a Stripe subscription or Payment Link on such a price maps to the
 * catalog item, so live subscriptions keep billing at Stripe and show in Tollgate under their plan.
 */
export const PriceRef = z.string().regex(/^price_[A-Za-z0-9_]+$/, 'must be a Stripe price id (price_...)');
export const PriceBindingsBody = z
  .object({
    bindings: z
      .array(
        z
          .object({ price: PriceRef, plan: z.string().min(1).optional(), pack: z.string().min(1).optional() })
          .strict()
          .refine((b) => (b.plan === undefined) !== (b.pack === undefined), { message: 'give exactly one of plan or pack', path: ['plan'] }),
      )
      .min(1)
      .max(100),
  })
  .strict();

const view = (b: repo.PriceBindingRow) => ({ object: 'stripe_price_binding' as const, price: b.price_ref, kind: b.kind, item_id: b.item_id, created_at: b.created_at });

export async function listBindings(ctx: AppContext, projectId: string) {
  return (await repo.listPriceBindings(ctx.db, projectId)).map(view);
}

export async function bindPrices(ctx: AppContext, q: Queryable, projectId: string, body: z.infer<typeof PriceBindingsBody>) {
  const { catalog } = await getCatalog(ctx, projectId);
  let changed = 0;
  for (const [i, b] of body.bindings.entries()) {
    const kind = b.plan !== undefined ? 'plan' : 'pack';
    const itemId = (b.plan ?? b.pack) as string;
    if (kind === 'plan' ? !findPlan(catalog, itemId) : !findPack(catalog, itemId)) {
      throw new InvalidRequestError(`bindings.${i}: no ${kind} '${itemId}' in the catalog`, `bindings.${i}.${kind}`);
    }
    if (await repo.upsertPriceBinding(q, { projectId, priceRef: b.price, kind, itemId, at: ctx.clock.now() })) changed++;
  }
  return { object: 'list' as const, data: (await repo.listPriceBindings(q, projectId)).map(view), changed };
}

/** The catalog plan an existing Stripe price is bound to, if any. */
export async function boundPlan(q: Queryable, projectId: string, priceRef: string): Promise<string | undefined> {
  const b = await repo.findPriceBinding(q, projectId, priceRef);
  return b?.kind === 'plan' ? b.item_id : undefined;
}

/** `STRIPE_PRICE_<ITEM>=price_...` from an environment, as the products kept them: plan ids first, then packs. */
export function bindingsFromEnv(env: NodeJS.ProcessEnv, catalog: { plans: { id: string }[]; credit_packs: { id: string }[] }) {
  const out: { price: string; plan?: string; pack?: string }[] = [];
  for (const [k, v] of Object.entries(env)) {
    const m = k.match(/^STRIPE_PRICE_([A-Z0-9_]+)$/);
    if (!m || !v) continue;
    const id = (m[1] as string).toLowerCase();
    const plan = catalog.plans.find((p) => p.id.toLowerCase().replace(/-/g, '_') === id);
    const pack = catalog.credit_packs.find((p) => p.id.toLowerCase().replace(/-/g, '_') === id);
    if (plan) out.push({ price: v, plan: plan.id });
    else if (pack) out.push({ price: v, pack: pack.id });
  }
  return out;
}
