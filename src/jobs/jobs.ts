import { expireOrders } from '../modules/commerce/commerce.service.ts';
import { expireDue } from '../modules/credits/credits.service.ts';
import { sweepCustomerSessions } from '../modules/customer-sessions/customer-sessions.service.ts';
import { sweepOperatorSessions } from '../modules/dashboard/operators.service.ts';
import { expireCheckoutSessions } from '../modules/payments/payments.service.ts';
import { advanceDueSubscriptions } from '../modules/subscriptions/subscriptions.service.ts';
import { retryDueEvents } from '../modules/webhooks-in/inbox.service.ts';
import { runDueCatalogSync } from '../providers/stripe/stripe.catalog.ts';
import { runDueReconcile } from '../providers/stripe/stripe.reconcile.ts';
import { deliverDue, dispatchOutbox, purgeWebhookHistory } from '../modules/webhooks-out/webhooks.service.ts';
import { registerJob } from './runner.ts';

const IDEMPOTENCY_TTL_MS = 48 * 3600 * 1000; // kept at least 24 h, as promised

/** Every background job, registered in one place. */
export function registerJobs(): void {
  registerJob('credits.expire', async (ctx) => {
    const r = await expireDue(ctx);
    return r.holds + r.grants;
  });
  registerJob('checkout.expire', (ctx) => expireCheckoutSessions(ctx));
  registerJob('orders.expire', (ctx) => expireOrders(ctx));
  registerJob('inbox.retry', (ctx) => retryDueEvents(ctx));
  registerJob('webhooks.dispatch', (ctx) => dispatchOutbox(ctx));
  registerJob('webhooks.deliver', (ctx) => deliverDue(ctx));
  registerJob('webhooks.purge', (ctx) => purgeWebhookHistory(ctx));
  registerJob('subscriptions.advance', (ctx) => advanceDueSubscriptions(ctx));
  registerJob('customer_sessions.sweep', (ctx) => sweepCustomerSessions(ctx));
  registerJob('operator_sessions.sweep', (ctx) => sweepOperatorSessions(ctx));
  registerJob('stripe.catalog_sync', (ctx) => runDueCatalogSync(ctx));
  registerJob('stripe.reconcile', (ctx) => runDueReconcile(ctx));
  registerJob('idempotency.purge', async (ctx) => {
    const r = await ctx.db.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT 1000)`,
      [new Date(ctx.clock.now().getTime() - IDEMPOTENCY_TTL_MS)],
    );
    return r.rowCount >= 1000 ? 1 : 0;
  });
}
