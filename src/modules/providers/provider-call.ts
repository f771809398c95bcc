import type { AppContext } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import { insideTransaction } from '../../db/db.ts';
import type { ProviderCall, ProviderName, ProviderStore } from '../../providers/provider.ts';
import { findSession } from '../payments/payments.repository.ts';
import { projectNow } from '../projects/projects.service.ts';
import { findPrice } from '../stripe/stripe.repository.ts';
import { findProviderCustomerRef, linkProviderCustomer } from './providers.repository.ts';
import { getProviderSettings } from './providers.service.ts';

/** `TOLLGATE_<PROVIDER>_API_BASE`: a provider-compatible API to call instead of the provider's own. */
function apiBaseOf(ctx: AppContext, provider: string): string | undefined {
  if (provider === 'stripe') return ctx.config.stripeApiBase;
  if (provider === 'paypal') return ctx.config.paypalApiBase;
  return undefined;
}

/** Tollgate's storage as the port describes it, for one project and provider. */
function storeFor(ctx: AppContext, projectId: string, provider: string): ProviderStore {
  return {
    customerRef: (customerId) => findProviderCustomerRef(ctx.db, projectId, customerId, provider),
    async linkCustomer(customerId, ref) {
      await linkProviderCustomer(ctx.db, { projectId, customerId, provider, ref, at: await projectNow(ctx, projectId) });
    },
    async sessionItem(sessionId) {
      const session = await findSession(ctx.db, sessionId, projectId);
      return session ? { type: session.item_type, id: session.item_id } : undefined;
    },
    syncedPrice: (kind, itemId) => (provider === 'stripe' ? findPrice(ctx.db, projectId, kind, itemId) : Promise.resolve(undefined)),
  };
}

/**
 * The one value a provider is called with: its decrypted settings for the project (looked up only
 * for a provider that has settings), Tollgate's URL and clock, the API base, the call timeout and
 * the storage it may use. Built fresh for each call; the settings come from a 2 s cache that
 * `PUT /v1/providers/:provider` clears.
 */
export async function providerCall<S = unknown>(ctx: AppContext, projectId: string, provider: ProviderName | string): Promise<ProviderCall<S>> {
  if (insideTransaction()) {
    // A provider answering slowly would hold the transaction's connection (PGlite's only one) meanwhile.
    const message = `${provider} call for project ${projectId} inside a database transaction`;
    if (ctx.config.providerCallInTransaction === 'throw') throw new Error(message);
    ctx.log.warn({ provider, projectId, stack: new Error(message).stack }, 'provider call inside a database transaction');
  }
  const found = getProvider(ctx, provider)?.settings ? await getProviderSettings<S>(ctx, projectId, provider) : undefined;
  const apiBase = apiBaseOf(ctx, provider);
  return {
    projectId,
    publicUrl: ctx.config.publicUrl,
    ...(apiBase ? { apiBase } : {}),
    settings: found?.config,
    mode: found?.mode,
    now: ctx.clock.now(),
    timeoutMs: ctx.config.providerTimeoutMs,
    store: storeFor(ctx, projectId, provider),
  };
}
