import type { AppContext } from '../../app/context.ts';
import * as repo from './stripe.repository.ts';

/** The catalog's state at Stripe: the last sync and each item's Product and Price. */
export async function catalogSyncStatus(ctx: AppContext, projectId: string) {
  const state = await repo.findSyncState(ctx.db, projectId);
  const rows = await repo.listPrices(ctx.db, projectId);
  return {
    object: 'stripe_catalog',
    status: state?.sync_status ?? 'idle',
    catalog_version: state?.catalog_version ?? null,
    last_error: state?.last_error ?? null,
    synced_at: state?.synced_at ?? null,
    data: rows.map((r) => ({
      kind: r.kind,
      item_id: r.item_id,
      lookup_key: r.lookup_key,
      product: r.product_ref,
      price: r.price_ref,
      amount: { amount: r.amount, currency: r.currency },
      interval: r.interval,
      active: r.active,
      synced_at: r.synced_at,
    })),
  };
}
