import { InvalidRequestError } from '../../domain/errors.ts';
import { type CatalogPushHook, getCatalog } from '../catalog/catalog.service.ts';
import type { CustomerViewExtension } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './subscriptions.repository.ts';
import { chargeContext, currentView } from './subscriptions.view.ts';

// What subscriptions add to the customer view and check on a catalog push (listed in src/app/capabilities.ts).

/** The customer's current subscription in the customer view; listed as the subscriptions capability's `customerView`. */
export const subscriptionCustomerView: CustomerViewExtension = async (ctx, q, c) => {
  const row = await repo.findCurrentSubscription(q, c.project_id, c.id);
  const { catalog } = await getCatalog(ctx, c.project_id);
  const now = await projectNow(ctx, c.project_id);
  return { subscription: currentView(row, catalog, now, c.id, await chargeContext(q, row)) };
};

/** A plan that live subscriptions use cannot disappear from the catalog (they would lose their entitlements). */
export const keepPlansInUseOnPush: CatalogPushHook = async (_ctx, q, { projectId, previous, next }) => {
  const kept = new Set(next.plans.map((p) => p.id));
  const removed = previous.plans.map((p) => p.id).filter((id) => !kept.has(id));
  if (removed.length === 0) return;
  const inUse = await repo.livePlansAmong(q, projectId, removed);
  if (inUse.length > 0) {
    throw new InvalidRequestError(
      `Plan '${inUse[0]}' has live subscriptions: keep it in the catalog with "active": false instead of removing it`,
      'plans',
      { plans: inUse },
    );
  }
};
