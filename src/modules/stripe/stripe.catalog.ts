import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { Catalog } from '../../domain/catalog.ts';
import type { AppContext } from '../../app/context.ts';
import { type CatalogPushHook, getCatalog } from '../catalog/catalog.service.ts';
import { callStripe, stripeFor } from '../../providers/stripe/stripe.client.ts';
import { lookupKey } from '../../providers/stripe/stripe.events.ts';
import * as repo from './stripe.repository.ts';
import { providerCall } from '../providers/provider-call.ts';

/** What one catalog item should be at Stripe. */
export interface DesiredPrice {
  kind: repo.CatalogKind;
  itemId: string;
  lookupKey: string;
  name: string;
  amount: number;
  currency: string;
  interval: 'month' | 'year' | null;
}

export type SyncAction =
  | { action: 'unchanged' | 'rename'; item: DesiredPrice; row: repo.StripePriceRow }
  | { action: 'create'; item: DesiredPrice }
  | { action: 'adopt'; item: DesiredPrice; priceRef: string; productRef: string; productName: string }
  | { action: 'replace'; item: DesiredPrice; oldPriceRef: string; productRef: string; productName: string }
  | { action: 'archive'; row: repo.StripePriceRow };

/** Every paid, active item of a catalog: plans (recurring), credit packs and shop products (one-time). */
export function desiredPrices(projectId: string, c: Catalog): DesiredPrice[] {
  const out: DesiredPrice[] = [];
  for (const p of c.plans) {
    if (!p.active || p.price.amount <= 0) continue;
    out.push({ kind: 'plan', itemId: p.id, lookupKey: lookupKey(projectId, 'plan', p.id), name: p.name, ...p.price, interval: p.interval });
  }
  for (const p of c.credit_packs) {
    if (!p.active) continue;
    const name = `${p.name} — ${p.credits} credits`;
    out.push({ kind: 'pack', itemId: p.id, lookupKey: lookupKey(projectId, 'pack', p.id), name, ...p.price, interval: null });
  }
  for (const p of c.products) {
    if (!p.active) continue;
    out.push({ kind: 'product', itemId: p.id, lookupKey: lookupKey(projectId, 'product', p.id), name: p.name, ...p.price, interval: null });
  }
  return out;
}

const samePrice = (d: DesiredPrice, p: { amount: number | null; currency: string; interval: string | null }) =>
  p.amount === d.amount && p.currency === d.currency && (p.interval ?? null) === d.interval;

/**
 * Compares the catalog with the stored mapping and, for anything not already mapped, with Stripe's
 * prices by lookup key (so an account's existing prices are adopted, not duplicated). Reads only.
 */
export async function planCatalogSync(ctx: AppContext, stripe: Stripe, projectId: string, catalog: Catalog): Promise<SyncAction[]> {
  const rows = new Map((await repo.listPrices(ctx.db, projectId)).map((r) => [`${r.kind}:${r.item_id}`, r]));
  const actions: SyncAction[] = [];
  const wanted = desiredPrices(projectId, catalog);
  for (const item of wanted) {
    const row = rows.get(`${item.kind}:${item.itemId}`);
    if (row?.active && samePrice(item, row)) {
      actions.push({ action: row.name === item.name ? 'unchanged' : 'rename', item, row });
      continue;
    }
    const found = await callStripe('prices.list', () =>
      stripe.prices.list({ lookup_keys: [item.lookupKey], expand: ['data.product'], limit: 1 }),
    );
    const price = found.data[0];
    if (price) {
      const product = price.product as Stripe.Product;
      const productRef = typeof price.product === 'string' ? price.product : product.id;
      const productName = typeof price.product === 'string' ? '' : product.name;
      if (price.active && samePrice(item, { amount: price.unit_amount, currency: price.currency, interval: price.recurring?.interval ?? null })) {
        actions.push({ action: 'adopt', item, priceRef: price.id, productRef, productName });
      } else {
        actions.push({ action: 'replace', item, oldPriceRef: price.id, productRef, productName });
      }
    } else if (row) {
      actions.push({ action: 'replace', item, oldPriceRef: row.price_ref, productRef: row.product_ref, productName: row.name });
    } else {
      actions.push({ action: 'create', item });
    }
  }
  const keep = new Set(wanted.map((w) => `${w.kind}:${w.itemId}`));
  for (const [k, row] of rows) if (row.active && !keep.has(k)) actions.push({ action: 'archive', row });
  return actions;
}

const digest = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 16);

function priceMetadata(projectId: string, item: DesiredPrice): Record<string, string> {
  return {
    tollgate_project: projectId,
    tollgate_kind: item.kind,
    tollgate_item: item.itemId,
    ...(item.kind === 'plan' ? { tollgate_plan: item.itemId } : {}),
  };
}

async function createPrice(stripe: Stripe, projectId: string, item: DesiredPrice, productRef: string, replacing: string | null): Promise<Stripe.Price> {
  return callStripe('prices.create', () =>
    stripe.prices.create(
      {
        product: productRef,
        unit_amount: item.amount,
        currency: item.currency,
        ...(item.interval ? { recurring: { interval: item.interval } } : {}),
        lookup_key: item.lookupKey,
        transfer_lookup_key: true,
        metadata: priceMetadata(projectId, item),
      },
      // The price it replaces is part of the key: going back to an earlier amount makes a fresh price.
      { idempotencyKey: `tollgate-price-${item.lookupKey}-${item.amount}-${item.currency}-${item.interval ?? 'once'}-${replacing ?? 'new'}` },
    ),
  );
}

/** Carries out a plan, one item at a time; each item's mapping is stored as soon as Stripe has it. */
export async function applyCatalogSync(
  ctx: AppContext,
  stripe: Stripe,
  projectId: string,
  actions: SyncAction[],
  onProgress: (done: number, total: number, a: SyncAction) => void = () => {},
): Promise<void> {
  let done = 0;
  for (const a of actions) {
    const at = ctx.clock.now();
    const save = (item: DesiredPrice, productRef: string, priceRef: string) =>
      repo.upsertPrice(ctx.db, {
        project_id: projectId,
        kind: item.kind,
        item_id: item.itemId,
        lookup_key: item.lookupKey,
        product_ref: productRef,
        price_ref: priceRef,
        name: item.name,
        amount: item.amount,
        currency: item.currency,
        interval: item.interval,
        active: true,
        synced_at: at,
      });
    const rename = async (productRef: string, name: string) =>
      callStripe('products.update', () =>
        stripe.products.update(productRef, { name }, { idempotencyKey: `tollgate-product-name-${productRef}-${digest(name)}` }),
      );
    switch (a.action) {
      case 'unchanged':
        break;
      case 'rename':
        await rename(a.row.product_ref, a.item.name);
        await save(a.item, a.row.product_ref, a.row.price_ref);
        break;
      case 'create': {
        const product = await callStripe('products.create', () =>
          stripe.products.create(
            { name: a.item.name, metadata: { tollgate_project: projectId, tollgate_kind: a.item.kind, tollgate_item: a.item.itemId } },
            { idempotencyKey: `tollgate-product-${a.item.lookupKey}-${digest(a.item.name)}` },
          ),
        );
        const price = await createPrice(stripe, projectId, a.item, product.id, null);
        await save(a.item, product.id, price.id);
        break;
      }
      case 'adopt':
        if (a.productName && a.productName !== a.item.name) await rename(a.productRef, a.item.name);
        await save(a.item, a.productRef, a.priceRef);
        break;
      case 'replace': {
        if (a.productName !== a.item.name) await rename(a.productRef, a.item.name);
        const price = await createPrice(stripe, projectId, a.item, a.productRef, a.oldPriceRef);
        await callStripe('prices.update', () =>
          stripe.prices.update(a.oldPriceRef, { active: false }, { idempotencyKey: `tollgate-archive-${a.oldPriceRef}` }),
        );
        await save(a.item, a.productRef, price.id);
        break;
      }
      case 'archive':
        await callStripe('prices.update', () =>
          stripe.prices.update(a.row.price_ref, { active: false }, { idempotencyKey: `tollgate-archive-${a.row.price_ref}` }),
        );
        await repo.upsertPrice(ctx.db, { ...a.row, active: false, synced_at: at });
        break;
    }
    onProgress(++done, actions.length, a);
  }
}

export function describeAction(a: SyncAction): string {
  const money = (i: DesiredPrice) => `${(i.amount / 100).toFixed(2)} ${i.currency.toUpperCase()}${i.interval ? `/${i.interval}` : ''}`;
  switch (a.action) {
    case 'archive':
      return `archive  ${a.row.kind} ${a.row.item_id} (price ${a.row.price_ref})`;
    case 'adopt':
      return `adopt    ${a.item.kind} ${a.item.itemId} ← existing price ${a.priceRef} (${money(a.item)})`;
    case 'replace':
      return `replace  ${a.item.kind} ${a.item.itemId}: new price ${money(a.item)}, archive ${a.oldPriceRef}`;
    case 'create':
      return `create   ${a.item.kind} ${a.item.itemId}: product "${a.item.name}" + price ${money(a.item)}`;
    case 'rename':
      return `rename   ${a.item.kind} ${a.item.itemId} → "${a.item.name}"`;
    default:
      return `ok       ${a.item.kind} ${a.item.itemId} (${a.row.price_ref})`;
  }
}

export interface SyncResult {
  object: 'stripe_catalog_sync';
  dry_run: boolean;
  actions: { action: SyncAction['action']; kind: string; item_id: string; description: string }[];
  changed: number;
}

/** Plans (and unless dry run, applies) the sync of a catalog — the project's current one by default. */
export async function syncCatalog(
  ctx: AppContext,
  projectId: string,
  opts: { dryRun?: boolean; catalog?: Catalog; onPlan?: (a: SyncAction[]) => void; onProgress?: (done: number, total: number, a: SyncAction) => void } = {},
): Promise<SyncResult> {
  const { stripe } = stripeFor(await providerCall(ctx, projectId, 'stripe'));
  const catalog = opts.catalog ?? (await getCatalog(ctx, projectId)).catalog;
  const actions = await planCatalogSync(ctx, stripe, projectId, catalog);
  opts.onPlan?.(actions);
  if (!opts.dryRun) await applyCatalogSync(ctx, stripe, projectId, actions, opts.onProgress);
  return {
    object: 'stripe_catalog_sync',
    dry_run: Boolean(opts.dryRun),
    actions: actions.map((a) => ({
      action: a.action,
      kind: a.action === 'archive' ? a.row.kind : a.item.kind,
      item_id: a.action === 'archive' ? a.row.item_id : a.item.itemId,
      description: describeAction(a),
    })),
    changed: actions.filter((a) => a.action !== 'unchanged').length,
  };
}

const SYNC_BACKOFF_S = [60, 300, 1800, 7200, 6 * 3600];
const SYNC_MAX_ATTEMPTS = 12;

/** Background: runs one due catalog sync (after a push committed); failures retry with backoff. */
export async function runDueCatalogSync(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  const claimed = await ctx.db.tx((trx) => repo.claimDueSync(trx, now, new Date(now.getTime() + 10 * 60_000)));
  if (!claimed) return 0;
  try {
    await syncCatalog(ctx, claimed.project_id);
    await repo.finishSync(ctx.db, claimed.project_id, claimed.catalog_version, { ok: true, at: ctx.clock.now() });
  } catch (err) {
    const attempts = claimed.sync_attempts + 1;
    const delay = SYNC_BACKOFF_S[Math.min(attempts - 1, SYNC_BACKOFF_S.length - 1)] ?? 3600;
    ctx.log.warn({ err, project: claimed.project_id }, 'Stripe catalog sync failed; will retry');
    await repo.finishSync(ctx.db, claimed.project_id, claimed.catalog_version, {
      ok: false,
      error: ((err as Error).message ?? String(err)).slice(0, 2000),
      retryAt: attempts >= SYNC_MAX_ATTEMPTS ? null : new Date(ctx.clock.now().getTime() + delay * 1000),
    });
  }
  return 1;
}

// Network calls never run inside the push transaction (on PGlite it is the only connection): the
// push records that a sync is due, and it runs right after the commit (job, CLI or sync route).
export const requestStripeSyncOnPush: CatalogPushHook = async (ctx, q, e) => {
  if (await repo.hasStripeSettings(q, e.projectId)) await repo.requestSync(q, e.projectId, e.version, ctx.clock.now());
};
