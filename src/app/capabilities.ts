/**
 * Every capability of Tollgate and what it plugs in — routes, provider-event handlers, checkout
 * items, fulfillments and refund effects, customer-view fields, customer-created and catalog-push
 * hooks, session authenticators, background jobs and the webhook events it emits.
 * Open this file first: nothing registers itself by being imported. Hooks of one kind run in the
 * order of this list.
 */
import { registerApiKeyRoutes } from '../modules/api-keys/api-keys.routes.ts';
import { issueApiKeyOnPayment, issueApiKeyOnSubscriptionStart } from '../modules/api-keys/api-keys.service.ts';
import { registerAuditRoutes } from '../modules/audit/audit.routes.ts';
import { registerCatalogRoutes } from '../modules/catalog/catalog.routes.ts';
import { registerCommerceRoutes } from '../modules/commerce/commerce.routes.ts';
import { expireOrders, fulfillOrderPayment, orderCheckoutItem, orderRefundEffect, syncStockOnCatalogPush } from '../modules/commerce/commerce.service.ts';
import { registerCreditsRoutes } from '../modules/credits/credits.routes.ts';
import { expireDue } from '../modules/credits/credits.service.ts';
import { resumeStuckTopUps } from '../modules/credits/credits.topup.ts';
import { registerCustomerSessionRoutes } from '../modules/customer-sessions/customer-sessions.routes.ts';
import { authenticateCustomerSession, sweepCustomerSessions } from '../modules/customer-sessions/customer-sessions.service.ts';
import { registerCustomerRoutes } from '../modules/customers/customers.routes.ts';
import { registerEmailRoutes } from '../modules/emails/emails.routes.ts';
import { composeEmails, sendDueEmails } from '../modules/emails/emails.service.ts';
import { registerDisputeRoutes } from '../modules/disputes/disputes.routes.ts';
import { disputesCustomerView, onDisputeChanged } from '../modules/disputes/disputes.service.ts';
import { collectDueFees, recordFeeOnPayment } from '../modules/payments/fees.service.ts';
import { registerDashboard } from '../modules/dashboard/dashboard.routes.ts';
import { authenticateOperatorSession, sweepOperatorSessions } from '../modules/dashboard/operators.service.ts';
import { purgeIdempotencyKeys } from '../modules/idempotency/idempotency.service.ts';
import { registerInvoiceRoutes } from '../modules/invoices/invoices.routes.ts';
import { issueCreditNoteForRefund, issueInvoiceForPayment } from '../modules/invoices/invoices.service.ts';
import { registerKeyRoutes } from '../modules/keys/keys.routes.ts';
import { registerMetricsRoutes } from '../modules/metrics/metrics.routes.ts';
import { creditPackCheckoutItem } from '../modules/payments/checkout.service.ts';
import { registerPaymentRoutes } from '../modules/payments/payments.routes.ts';
import {
  expireCheckoutSessions,
  fulfillCreditPack,
  onAsyncPaymentFailed,
  onAsyncPaymentSucceeded,
  onCheckoutCompleted,
} from '../modules/payments/payments.service.ts';
import { registerRefundRoutes } from '../modules/payments/refunds.routes.ts';
import { creditPackRefundEffect, onPaymentRefunded, refundOwedPayments } from '../modules/payments/refunds.service.ts';
import { registerProfileRoutes } from '../modules/profile/profile.routes.ts';
import { profileCustomerView, validateSettingsSchemasOnPush } from '../modules/profile/profile.service.ts';
import { registerProjectRoutes } from '../modules/projects/projects.routes.ts';
import { registerProviderRoutes } from '../modules/providers/providers.routes.ts';
import { registerSubscriptionRoutes } from '../modules/subscriptions/subscriptions.routes.ts';
import { keepPlansInUseOnPush, subscriptionCustomerView } from '../modules/subscriptions/subscriptions.catalog.ts';
import { fulfillPlan, planCheckoutItem } from '../modules/subscriptions/subscriptions.checkout.ts';
import { onInvoicePaid, onInvoicePaymentFailed, onSubscriptionChanged, onTrialWillEnd } from '../modules/subscriptions/subscriptions.events.ts';
import { advanceDueSubscriptions } from '../modules/subscriptions/subscriptions.renewal.ts';
import { startDefaultTrial } from '../modules/subscriptions/subscriptions.start.ts';
import { registerStreamRoutes } from '../modules/stream/stream.routes.ts';
import { pruneStreamLog } from '../modules/stream/stream.service.ts';
import { registerTestHelperRoutes } from '../modules/test-helpers/test-helpers.routes.ts';
import { purgeUsageEvents } from '../modules/usage/usage.batch.ts';
import { registerUsageRoutes } from '../modules/usage/usage.routes.ts';
import { entitlementsCustomerView } from '../modules/usage/usage.service.ts';
import { registerVaultRoutes } from '../modules/vault/vault.routes.ts';
import { registerInboxRoutes } from '../modules/webhooks-in/inbox.routes.ts';
import { retryDueEvents } from '../modules/webhooks-in/inbox.service.ts';
import { registerWebhookEndpointRoutes } from '../modules/webhooks-out/webhooks.routes.ts';
import { deliverDue, dispatchOutbox, purgeWebhookHistory } from '../modules/webhooks-out/webhooks.service.ts';
import { onPaypalOrderApproved } from '../modules/payments/paypal-orders.service.ts';
import { paypalProvider } from '../providers/paypal/paypal.provider.ts';
import { registerPaypalRoutes } from '../modules/payments/paypal.routes.ts';
import { sandboxProvider } from '../providers/sandbox/sandbox.provider.ts';
import { requestStripeSyncOnPush, runDueCatalogSync } from '../modules/stripe/stripe.catalog.ts';
import { stripeProvider } from '../providers/stripe/stripe.provider.ts';
import { runDueReconcile } from '../modules/stripe/stripe.reconcile.ts';
import { registerStripeRoutes } from '../modules/stripe/stripe.routes.ts';
import { registerImportRoutes } from '../modules/imports/imports.routes.ts';
import { adoptPaymentLinkSession } from '../modules/imports/payment-links.service.ts';
import { registerCheckoutPages } from '../web/checkout.page.ts';
import { registerHostedPages } from '../web/hosted.pages.ts';
import { registerHomePage } from '../web/home.page.ts';
import { registerBillingPortalPages } from '../web/billing-portal.page.ts';
import { buildRegistry, type Capability, type Registry } from './registry.ts';

export const capabilities: readonly Capability[] = [
  { name: 'projects', routes: [registerProjectRoutes, registerKeyRoutes], jobs: { 'idempotency.purge': purgeIdempotencyKeys } },
  { name: 'catalog', routes: [registerCatalogRoutes] },
  {
    name: 'customers',
    routes: [registerCustomerRoutes, registerProfileRoutes],
    customerView: [profileCustomerView],
    onCatalogPush: [validateSettingsSchemasOnPush],
    emits: ['customer.created', 'customer.updated', 'customer.deleted', 'onboarding.started', 'onboarding.step_completed', 'onboarding.step_skipped', 'onboarding.completed'],
  },
  {
    name: 'customer-sessions',
    routes: [registerCustomerSessionRoutes],
    sessionAuthenticators: [authenticateCustomerSession],
    jobs: { 'customer_sessions.sweep': sweepCustomerSessions },
  },
  { name: 'usage', routes: [registerUsageRoutes], customerView: [entitlementsCustomerView], jobs: { 'usage.purge-events': purgeUsageEvents } },
  { name: 'stream', routes: [registerStreamRoutes], jobs: { 'stream.prune': pruneStreamLog } },
  {
    name: 'payments',
    routes: [registerPaymentRoutes, registerRefundRoutes, registerCheckoutPages],
    providers: [sandboxProvider, stripeProvider, paypalProvider],
    providerEvents: {
      'checkout.completed': onCheckoutCompleted,
      'checkout.async_payment_succeeded': onAsyncPaymentSucceeded,
      'checkout.async_payment_failed': onAsyncPaymentFailed,
      'payment.refunded': onPaymentRefunded,
    },
    checkoutItems: { credit_pack: creditPackCheckoutItem },
    fulfillments: { credit_pack: fulfillCreditPack },
    refundEffects: { credit_pack: creditPackRefundEffect },
    jobs: { 'checkout.expire': expireCheckoutSessions, 'payments.refund-owed': refundOwedPayments },
    emits: ['checkout.completed', 'payment.succeeded', 'payment.failed', 'payment.refunded'],
  },
  {
    name: 'subscriptions',
    routes: [registerSubscriptionRoutes, registerBillingPortalPages],
    providerEvents: {
      'subscription.changed': onSubscriptionChanged,
      'invoice.paid': onInvoicePaid,
      'invoice.payment_failed': onInvoicePaymentFailed,
      'subscription.trial_will_end': onTrialWillEnd,
    },
    customerView: [subscriptionCustomerView],
    onCustomerCreated: [startDefaultTrial],
    onCatalogPush: [keepPlansInUseOnPush],
    checkoutItems: { plan: planCheckoutItem },
    fulfillments: { plan: fulfillPlan },
    jobs: { 'subscriptions.advance': advanceDueSubscriptions },
    emits: ['subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.trial_will_end', 'entitlements.updated'],
  },
  {
    // After subscriptions: a renewal's credits exist before the period's grant expires (rollover).
    name: 'credits',
    routes: [registerCreditsRoutes],
    jobs: {
      'credits.expire': async (ctx) => {
        const r = await expireDue(ctx);
        return r.holds + r.grants;
      },
      'credits.resume-top-ups': resumeStuckTopUps,
    },
    emits: ['credits.granted', 'credits.deducted', 'credits.low_balance', 'credits.reversed', 'credits.transferred', 'credits.expired', 'credits.auto_top_up_failed'],
  },
  {
    name: 'commerce',
    routes: [registerCommerceRoutes],
    onCatalogPush: [syncStockOnCatalogPush],
    checkoutItems: { order: orderCheckoutItem },
    fulfillments: { order: fulfillOrderPayment },
    refundEffects: { order: orderRefundEffect },
    jobs: { 'orders.expire': expireOrders },
    emits: ['order.paid', 'order.canceled', 'order.refunded'],
  },
  {
    // Disputes (chargebacks) of payments: hold or take back what they bought (docs/disputes.md).
    name: 'disputes',
    routes: [registerDisputeRoutes],
    providerEvents: { 'dispute.changed': onDisputeChanged },
    customerView: [disputesCustomerView],
    emits: ['dispute.created', 'dispute.updated', 'dispute.closed'],
  },
  {
    // The provider's fee of each payment, read after the payment committed (docs/webhooks-and-metrics.md).
    name: 'fees',
    onPaymentRecorded: [recordFeeOnPayment],
    jobs: { 'payments.fees': collectDueFees },
  },
  {
    name: 'invoices',
    routes: [registerInvoiceRoutes],
    onPaymentRecorded: [issueInvoiceForPayment],
    onRefundRecorded: [issueCreditNoteForRefund],
  },
  {
    name: 'stripe',
    routes: [registerStripeRoutes],
    onCatalogPush: [requestStripeSyncOnPush],
    jobs: { 'stripe.catalog_sync': runDueCatalogSync, 'stripe.reconcile': runDueReconcile },
  },
  { name: 'paypal', routes: [registerPaypalRoutes], providerEvents: { 'order.approved': onPaypalOrderApproved } },
  { name: 'webhooks-in', routes: [registerInboxRoutes], jobs: { 'inbox.retry': retryDueEvents } },
  {
    name: 'webhooks-out',
    routes: [registerWebhookEndpointRoutes],
    jobs: { 'webhooks.dispatch': dispatchOutbox, 'webhooks.deliver': deliverDue, 'webhooks.purge': purgeWebhookHistory },
  },
  {
    // E-mails to customers, made from the outbox events above.
    name: 'emails',
    routes: [registerEmailRoutes],
    jobs: { 'emails.compose': composeEmails, 'emails.send': sendDueEmails },
  },
  { name: 'providers', routes: [registerProviderRoutes] },
  { name: 'metrics', routes: [registerMetricsRoutes] },
  // Moving in what a product already has (tollgate import) and its existing Stripe prices.
  { name: 'imports', routes: [registerImportRoutes], sessionAdopters: [adoptPaymentLinkSession] },
  { name: 'vault', routes: [registerVaultRoutes] },
  {
    // The app's own API keys for its customers (docs/api-keys.md); issued on a payment or subscription start when the catalog says so.
    name: 'api-keys',
    routes: [registerApiKeyRoutes],
    emits: ['api_key.created'],
    onPaymentRecorded: [issueApiKeyOnPayment],
    onSubscriptionStarted: [issueApiKeyOnSubscriptionStart],
  },
  { name: 'audit', routes: [registerAuditRoutes] },
  { name: 'test-helpers', routes: [registerTestHelperRoutes] },
  { name: 'hosted-pages', routes: [registerHostedPages, registerHomePage] },
  {
    name: 'dashboard',
    routes: [registerDashboard],
    sessionAuthenticators: [authenticateOperatorSession],
    jobs: { 'operator_sessions.sweep': sweepOperatorSessions },
  },
];

/** The registry every AppContext carries. */
export function defaultRegistry(): Registry {
  return buildRegistry(capabilities);
}
