import type { FastifyInstance } from 'fastify';
import type { Queryable } from '../db/db.ts';
import type { CatalogPushHook } from '../modules/catalog/catalog.service.ts';
import type { CustomerCreatedHook, CustomerViewExtension } from '../modules/customers/customers.service.ts';
import type { CheckoutItemBuilder } from '../modules/payments/checkout.service.ts';
import type { CheckoutSessionRow, PaymentRow } from '../modules/payments/payments.repository.ts';
import type { RefundRow } from '../modules/payments/refunds.repository.ts';
import type { RefundEffect } from '../modules/payments/refunds.service.ts';
import type { SubscriptionRow } from '../modules/subscriptions/subscriptions.repository.ts';
import type { OutboxEventType } from '../modules/webhooks-out/outbox.ts';
import type { PaymentProvider, ProviderEvent, ProviderName } from '../providers/provider.ts';
import type { AppContext, Caller } from './context.ts';

/** Where a provider event came from: the project, the provider and its inbox row. */
export interface EventContext {
  projectId: string;
  provider: string;
  inboxId: string;
  occurredAt: Date | null;
  /** The event is the provider's current state, just read from it (no need to read it again). */
  current?: boolean;
}

/**
 * What happened to one provider event: applied, deliberately ignored (with why), or work that calls
 * a provider: `outside` runs after the inbox transaction committed, never inside one; the event is
 * marked processed once it succeeded, and retried like any failure otherwise (it must be idempotent).
 */
export type HandlerOutcome = 'applied' | { ignored: string } | { outside: () => Promise<void> };

export type ProviderEventHandler<K extends ProviderEvent['kind']> = (
  ctx: AppContext,
  q: Queryable,
  e: EventContext,
  event: Extract<ProviderEvent, { kind: K }>,
) => Promise<HandlerOutcome>;

/** The provider events a capability acts on, by kind. */
export type ProviderEventHandlers = { [K in ProviderEvent['kind']]?: ProviderEventHandler<K> };

export type ItemType = 'credit_pack' | 'plan' | 'order';

/** Delivers what a completed checkout sold, once, from Tollgate's own record of the session. */
export type Fulfillment = (
  ctx: AppContext,
  q: Queryable,
  e: { session: CheckoutSessionRow; payment: PaymentRow | null; event: Extract<ProviderEvent, { kind: 'checkout.completed' }>; ev: EventContext },
  // Provider work the fulfilment needs once the payment is committed (a refund), as for a handler.
) => Promise<void | { outside: () => Promise<void> }>;

/** Finds the session a provider event names when Tollgate has none yet (a Payment Link's session). */
export type SessionAdopter = (
  ctx: AppContext,
  q: Queryable,
  e: EventContext,
  event: Extract<ProviderEvent, { kind: 'checkout.completed' }>,
) => Promise<CheckoutSessionRow | undefined>;

/** Turns a bearer token that is not an API key (customer session, dashboard operator) into a caller. */
export type SessionAuthenticator = (ctx: AppContext, token: string) => Promise<Caller | undefined>;

/** A unit of background work; claims its rows with FOR UPDATE SKIP LOCKED and returns how many it handled. */
export type Job = (ctx: AppContext) => Promise<number>;

/** Runs in the transaction that recorded a payment (once per payment row, succeeded or failed). */
export type PaymentRecordedHook = (ctx: AppContext, q: Queryable, payment: PaymentRow) => Promise<void>;

/** Runs in the transaction that recorded a refund, after the refund effects. */
export type RefundRecordedHook = (
  ctx: AppContext,
  q: Queryable,
  e: { payment: PaymentRow; refund: RefundRow; at: Date },
) => Promise<void>;

/** Runs in the transaction that started a subscription (a trial too). */
export type SubscriptionStartedHook = (ctx: AppContext, q: Queryable, sub: SubscriptionRow, at: Date) => Promise<void>;

export type RouteRegistrar = (app: FastifyInstance, ctx: AppContext) => void;

/** One capability of Tollgate and everything it plugs in. Listed in `src/app/capabilities.ts`. */
export interface Capability {
  name: string;
  routes?: RouteRegistrar[];
  providers?: PaymentProvider[];
  providerEvents?: ProviderEventHandlers;
  fulfillments?: Partial<Record<ItemType, Fulfillment>>;
  sessionAdopters?: SessionAdopter[];
  sessionAuthenticators?: SessionAuthenticator[];
  jobs?: Record<string, Job>;
  /** Fields this capability adds to the customer view (run in capability order, merged left to right). */
  customerView?: CustomerViewExtension[];
  /** Runs in the transaction that creates a customer (e.g. the catalog's default trial). */
  onCustomerCreated?: CustomerCreatedHook[];
  /** Runs in the catalog push transaction: validates the new catalog or records what it changes. */
  onCatalogPush?: CatalogPushHook[];
  /** How a checkout for each item type is priced (or completed at once); one capability per type. */
  checkoutItems?: Partial<Record<ItemType, CheckoutItemBuilder>>;
  /** What a refund undoes for the thing a payment bought, by item type; one capability per type. */
  refundEffects?: Partial<Record<ItemType, RefundEffect>>;
  /** Runs in the transaction that recorded a payment (e.g. issue its invoice). */
  onPaymentRecorded?: PaymentRecordedHook[];
  /** Runs in the transaction that recorded a refund (e.g. issue its credit note). */
  onRefundRecorded?: RefundRecordedHook[];
  /** Runs in the transaction that started a subscription (e.g. issue the customer's API key). */
  onSubscriptionStarted?: SubscriptionStartedHook[];
  /** The outgoing webhook events this capability emits. */
  emits?: readonly OutboxEventType[];
}

/** The capabilities' contributions, indexed for lookup. Built once at start-up; code only, no data. */
export interface Registry {
  capabilities: readonly Capability[];
  providers: ReadonlyMap<string, PaymentProvider>;
  providerEvents: ReadonlyMap<string, ProviderEventHandler<never>>;
  fulfillments: ReadonlyMap<string, Fulfillment>;
  sessionAdopters: readonly SessionAdopter[];
  sessionAuthenticators: readonly SessionAuthenticator[];
  jobs: readonly { name: string; run: Job }[];
  customerView: readonly CustomerViewExtension[];
  onCustomerCreated: readonly CustomerCreatedHook[];
  onCatalogPush: readonly CatalogPushHook[];
  onPaymentRecorded: readonly PaymentRecordedHook[];
  onRefundRecorded: readonly RefundRecordedHook[];
  onSubscriptionStarted: readonly SubscriptionStartedHook[];
  checkoutItems: ReadonlyMap<string, CheckoutItemBuilder>;
  refundEffects: ReadonlyMap<string, RefundEffect>;
}

function putOnce<V>(map: Map<string, V>, key: string, value: V, what: string, owner: string): void {
  if (map.has(key)) throw new Error(`${what} "${key}" is registered twice (again by ${owner})`);
  map.set(key, value);
}

/** The hooks of one kind in capability order; the same function listed twice is a start-up error. */
function hooksOnce<H>(capabilities: readonly Capability[], pick: (c: Capability) => H[] | undefined, what: string): H[] {
  const out: H[] = [];
  for (const c of capabilities) {
    for (const h of pick(c) ?? []) {
      if (out.includes(h)) throw new Error(`${what} hook is registered twice (again by ${c.name})`);
      out.push(h);
    }
  }
  return out;
}

/**
 * Indexes the capabilities; two capabilities claiming the same event, job, provider, checkout item
 * or refund effect is a start-up error.
 */
export function buildRegistry(capabilities: readonly Capability[]): Registry {
  const providers = new Map<string, PaymentProvider>();
  const providerEvents = new Map<string, ProviderEventHandler<never>>();
  const fulfillments = new Map<string, Fulfillment>();
  const jobs = new Map<string, Job>();
  const checkoutItems = new Map<string, CheckoutItemBuilder>();
  const refundEffects = new Map<string, RefundEffect>();
  for (const c of capabilities) {
    for (const p of c.providers ?? []) putOnce(providers, p.name, p, 'provider', c.name);
    for (const [kind, h] of Object.entries(c.providerEvents ?? {})) {
      putOnce(providerEvents, kind, h as unknown as ProviderEventHandler<never>, 'provider event', c.name);
    }
    for (const [type, f] of Object.entries(c.fulfillments ?? {})) putOnce(fulfillments, type, f, 'fulfillment', c.name);
    for (const [name, j] of Object.entries(c.jobs ?? {})) putOnce(jobs, name, j, 'job', c.name);
    for (const [type, b] of Object.entries(c.checkoutItems ?? {})) putOnce(checkoutItems, type, b, 'checkout item', c.name);
    for (const [type, r] of Object.entries(c.refundEffects ?? {})) putOnce(refundEffects, type, r, 'refund effect', c.name);
  }
  return {
    capabilities,
    providers,
    providerEvents,
    fulfillments,
    sessionAdopters: capabilities.flatMap((c) => c.sessionAdopters ?? []),
    sessionAuthenticators: capabilities.flatMap((c) => c.sessionAuthenticators ?? []),
    jobs: [...jobs].map(([name, run]) => ({ name, run })),
    customerView: hooksOnce(capabilities, (c) => c.customerView, 'customer view'),
    onCustomerCreated: hooksOnce(capabilities, (c) => c.onCustomerCreated, 'customer created'),
    onCatalogPush: hooksOnce(capabilities, (c) => c.onCatalogPush, 'catalog push'),
    onPaymentRecorded: hooksOnce(capabilities, (c) => c.onPaymentRecorded, 'payment recorded'),
    onRefundRecorded: hooksOnce(capabilities, (c) => c.onRefundRecorded, 'refund recorded'),
    onSubscriptionStarted: hooksOnce(capabilities, (c) => c.onSubscriptionStarted, 'subscription started'),
    checkoutItems,
    refundEffects,
  };
}

/** The provider registered under `name`, if any. */
export function getProvider(ctx: Pick<AppContext, 'registry'>, name: string): PaymentProvider | undefined {
  return ctx.registry.providers.get(name as ProviderName);
}
