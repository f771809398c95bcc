import cliProgress from 'cli-progress';
import type { Catalog } from '../../domain/catalog.ts';
import type { AppContext } from '../../app/context.ts';
import { describeAction, syncCatalog } from './stripe.catalog.ts';
import { type ImportPhase, importStripe } from './stripe.import.ts';
import { reconcileStripe } from './stripe.reconcile.ts';
import * as repo from './stripe.repository.ts';

const out = (s: string) => process.stdout.write(`${s}\n`);

/**
 * After `tollgate push` commits (or for `--dry-run`, instead of it): the Stripe side of the catalog,
 * planned and applied with a progress bar. Projects without Stripe settings skip it.
 */
export async function syncStripeAfterPush(ctx: AppContext, projectId: string, opts: { dryRun: boolean; catalog?: Catalog }): Promise<number> {
  if (!(await repo.hasStripeSettings(ctx.db, projectId))) return 0;
  let bar: cliProgress.SingleBar | null = null;
  const result = await syncCatalog(ctx, projectId, {
    dryRun: opts.dryRun,
    catalog: opts.catalog,
    onPlan: (actions) => {
      const changes = actions.filter((a) => a.action !== 'unchanged');
      out(`Stripe: ${changes.length} change(s)${opts.dryRun ? ' would be made (dry run)' : ''}${changes.length ? ':' : ', already in sync.'}`);
      for (const a of changes) out(`  ${describeAction(a)}`);
      if (!opts.dryRun && changes.length > 0) {
        bar = new cliProgress.SingleBar({ format: '  syncing [{bar}] {value}/{total} {item}', hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(actions.length, 0, { item: '' });
      }
    },
    onProgress: (done, _total, a) => (bar as cliProgress.SingleBar | null)?.update(done, { item: a.action === 'archive' ? a.row.item_id : a.item.itemId }),
  });
  (bar as cliProgress.SingleBar | null)?.stop();
  if (!opts.dryRun) {
    const state = await repo.findSyncState(ctx.db, projectId);
    await repo.finishSync(ctx.db, projectId, state?.catalog_version ?? null, { ok: true, at: ctx.clock.now() });
    out(`Stripe: catalog in sync (${result.changed} change(s)).`);
  }
  return 0;
}

/** `tollgate import stripe` and `tollgate reconcile stripe`. */
export async function stripeCommand(ctx: AppContext, cmd: 'import' | 'reconcile', projectId: string): Promise<number> {
  if (cmd === 'reconcile') {
    const r = await reconcileStripe(ctx, projectId);
    out(
      `Reconciled ${projectId}: ${r.events_seen} event(s) read, ${r.events_missed} missed and now applied; ${r.sessions_checked} open session(s) checked, ${r.sessions_repaired} repaired.`,
    );
    return 0;
  }
  const bars = new cliProgress.MultiBar({ format: '  {phase} {value} read', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  const phaseBars = new Map<ImportPhase, cliProgress.SingleBar>();
  const r = await importStripe(ctx, projectId, (phase, seen) => {
    let b = phaseBars.get(phase);
    if (!b) {
      b = bars.create(0, 0, { phase: phase.padEnd(13) });
      phaseBars.set(phase, b);
    }
    b.setTotal(seen);
    b.update(seen, { phase: phase.padEnd(13) });
  });
  bars.stop();
  out(
    `Imported from Stripe into ${projectId}: customers ${r.customers.imported} new of ${r.customers.seen}; products ${r.products.seen}; prices ${r.prices.mapped} mapped of ${r.prices.seen}; payment links ${r.payment_links.adopted} adopted of ${r.payment_links.seen}; subscriptions ${r.subscriptions.applied} applied of ${r.subscriptions.seen}. Safe to run again.`,
  );
  for (const refused of r.payment_links.refused) out(refused.message);
  return 0;
}
