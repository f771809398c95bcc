import type { Queryable } from '../../db/db.ts';
import { type Catalog, type CatalogInput, CatalogSchema, EMPTY_CATALOG } from '../../domain/catalog.ts';
import { currencyExponent } from '../../domain/money.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { cacheOf, invalidate } from '../../db/invalidation.ts';
import { parseOrThrow } from '../../lib/validation.ts';
import { audit } from '../audit/audit.service.ts';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import { getProject, invalidateProject, liveProjectId, projectBranding, projectsRepository } from '../projects/projects.service.ts';
import * as repo from './catalog.repository.ts';

export interface CurrentCatalog {
  version: number;
  catalog: Catalog;
}

/** The project's current catalog (cached; a push on any instance invalidates it, see `db/invalidation.ts`). */
export async function getCatalog(ctx: AppContext, projectId: string, q: Queryable = ctx.db): Promise<CurrentCatalog> {
  const cache = cacheOf<CurrentCatalog>(ctx.db, 'catalog');
  if (!q.inTransaction) {
    const hit = cache.get(projectId);
    if (hit) return hit;
  }
  const row = await repo.findCurrentCatalog(q, projectId);
  const value = row ? { version: row.version, catalog: CatalogSchema.parse(row.document) } : { version: 0, catalog: EMPTY_CATALOG };
  if (!q.inTransaction) cache.set(projectId, value);
  return value;
}

/** A catalog as hosted pages and e-mails show it: the project's branding and locale (PATCH /v1/project) over its theme and locale. */
export function brandCatalog(p: Parameters<typeof projectBranding>[0], catalog: Catalog): Catalog {
  const { branding, locale } = projectBranding(p);
  if (!branding.name && !branding.primary_color && !branding.logo_url && !locale) return catalog;
  return { ...catalog, theme: { ...catalog.theme, ...branding }, ...(locale ? { locale } : {}) };
}

/** The current catalog for showing to customers (see brandCatalog); never for pushing or diffing. */
export async function getShownCatalog(ctx: AppContext, projectId: string): Promise<CurrentCatalog> {
  const [current, project] = await Promise.all([getCatalog(ctx, projectId), getProject(ctx, projectId)]);
  return { version: current.version, catalog: brandCatalog(project, current.catalog) };
}

export function validateCatalog(input: unknown): Catalog {
  return parseOrThrow(CatalogSchema, input);
}

/**
 * Runs inside the push transaction (e.g. provider price sync plans, stock rows); listed as
 * `onCatalogPush` of a capability in src/app/capabilities.ts.
 */
export type CatalogPushHook = (
  ctx: AppContext,
  q: Queryable,
  e: { projectId: string; previous: Catalog; next: Catalog; version: number },
) => Promise<void>;

/**
 * Replaces the catalog. With `expectedVersion` (PUT /v1/catalog's `If-Match: "<version>"` or
 * `expected_version`, `tollgate push --expect-version`), the push happens only if the current catalog
 * is still that version, checked under the project's lock: otherwise 409 `conflict` and nothing changes.
 */
export async function putCatalog(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  input: unknown,
  opts: { expectedVersion?: number } = {},
): Promise<CurrentCatalog> {
  const catalog = validateCatalog(input);
  const project = await projectsRepository.lockProject(q, caller.projectId);
  if (!project) throw new NotFoundError('project', caller.projectId);
  // A live twin sharing the test catalog reads the test project's version: that push takes the test row's lock.
  if (opts.expectedVersion !== undefined && project.mode === 'live' && project.live_catalog_shared && project.test_project_id) {
    await projectsRepository.lockProject(q, project.test_project_id);
  }
  const current = await getCatalog(ctx, caller.projectId, q);
  if (opts.expectedVersion !== undefined && current.version !== opts.expectedVersion) {
    throw new ConflictError(
      `The catalog is at version ${current.version}, not the expected version ${opts.expectedVersion}: it changed since you read it; diff again and push again`,
      { current_version: current.version, expected_version: opts.expectedVersion },
    );
  }
  const previous = current.catalog;
  const at = ctx.clock.now();
  // A push in live mode gives live mode its own catalog from then on (`tollgate push --mode live`).
  if (project.mode === 'live') await projectsRepository.setLiveCatalogShared(q, project.id, false);
  const version = await repo.insertCatalogVersion(q, caller.projectId, catalog, caller.actor, at);
  // A live twin still sharing this catalog takes it too: its own stock rows, its own price sync.
  const twinId = project.mode === 'test' ? liveProjectId(project.id) : undefined;
  const twin = twinId ? await projectsRepository.findProject(q, twinId) : undefined;
  const sharing = twin?.live_catalog_shared ? twin.id : undefined;
  for (const projectId of [caller.projectId, ...(sharing ? [sharing] : [])]) {
    for (const hook of ctx.registry.onCatalogPush) {
      await hook(ctx, q, { projectId, previous, next: catalog, version });
    }
  }
  await audit(q, caller, { action: 'catalog.pushed', target: `catalog:v${version}`, details: { version, mode: project.mode } }, at);
  const touched = [caller.projectId, ...(twinId ? [twinId] : [])];
  await invalidate(ctx.db, touched.map((key) => ({ scope: 'catalog', key })));
  for (const id of touched) await invalidateProject(ctx, id);
  return { version, catalog };
}

/** Pushes a catalog outside a request (demo seeding, `tollgate push`). */
export async function pushCatalog(
  ctx: AppContext,
  projectId: string,
  input: CatalogInput,
  actor = 'cli',
  opts: { expectedVersion?: number } = {},
): Promise<CurrentCatalog> {
  return ctx.db.tx((trx) =>
    putCatalog(ctx, trx, { projectId, keyId: 'cli', kind: 'operator', scopes: ['full'], actor }, input, opts),
  );
}

/** The public view for a pricing page: plans and packs with display fields. */
export function publicPlans(c: Catalog) {
  const packs = c.credit_packs.filter((p) => p.active);
  const unitPrices = packs.map((p) => p.price.amount / p.credits);
  const worst = Math.max(0, ...unitPrices);
  return {
    currency: c.currency,
    plans: c.plans
      .filter((p) => p.active)
      .map((p) => ({
        id: p.id,
        name: p.name,
        description: p.description ?? null,
        price: p.price,
        interval: p.interval,
        trial_days: p.trial_days,
        trial_requires_card: p.trial_requires_card,
        per_seat: p.per_seat,
        included_credits: p.included_credits,
        features: p.features,
        popular: p.popular,
        free: p.price.amount === 0,
        monthly_price: { amount: p.interval === 'year' ? Math.round(p.price.amount / 12) : p.price.amount, currency: p.price.currency },
      })),
    credit_packs: packs.map((p, i) => {
      const unit = unitPrices[i] ?? 0;
      return {
        id: p.id,
        name: p.name,
        credits: p.credits,
        price: p.price,
        popular: p.popular,
        // Money objects hold integers: the price per credit rounded to a minor unit, and exactly (two decimals) as a string.
        price_per_credit: { amount: Math.round(unit), currency: p.price.currency },
        price_per_credit_decimal: unit.toFixed(2),
        savings_percent: worst > 0 ? Math.round((1 - unit / worst) * 100) : 0,
        // What the pack buys in the product's unit (credits × per_credit, to two decimals); null when the catalog does not say.
        units: p.unit ? { label: p.unit.label, per_credit: p.unit.per_credit, amount: Math.round(p.credits * p.unit.per_credit * 100) / 100 } : null,
        // The buyer picks the amount (price is the suggestion); null for a fixed-price pack.
        pay_what_you_want: p.pay_what_you_want
          ? {
              min: { amount: p.pay_what_you_want.min, currency: p.price.currency },
              max: { amount: p.pay_what_you_want.max, currency: p.price.currency },
              credits_per_unit: p.pay_what_you_want.credits_per_unit,
              currency_exponent: currencyExponent(p.price.currency),
            }
          : null,
      };
    }),
    free_plan: c.free_plan ?? null,
    default_trial: c.default_trial ?? null,
    theme: c.theme ?? null,
  };
}
