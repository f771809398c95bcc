import type { FastifyInstance } from 'fastify';
import type { Queryable } from '../db/db.ts';
import type { CheckoutSessionRow, PaymentRow } from '../modules/payments/payments.repository.ts';
import type { OutboxEventType } from '../modules/webhooks-out/outbox.ts';
import type { PaymentProvider, ProviderEvent, ProviderName } from '../providers/provider.ts';
import type { AppContext, Caller } from './context.ts';

/** Where a provider event came from: the project, the provider and its inbox row. */
export interface EventContext {
  projectId: string;
  provider: string;
  inboxId: string;
  occurredAt: Date | null;
}

/** What happened to one provider event: applied, or deliberately ignored (with why). */
export type HandlerOutcome = 'applied' | { ignored: string };

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
) => Promise<void>;

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
}

function putOnce<V>(map: Map<string, V>, key: string, value: V, what: string, owner: string): void {
  if (map.has(key)) throw new Error(`${what} "${key}" is registered twice (again by ${owner})`);
  map.set(key, value);
}

/** Indexes the capabilities; two capabilities claiming the same event, job or provider is a start-up error. */
export function buildRegistry(capabilities: readonly Capability[]): Registry {
  const providers = new Map<string, PaymentProvider>();
  const providerEvents = new Map<string, ProviderEventHandler<never>>();
  const fulfillments = new Map<string, Fulfillment>();
  const jobs = new Map<string, Job>();
  for (const c of capabilities) {
    for (const p of c.providers ?? []) putOnce(providers, p.name, p, 'provider', c.name);
    for (const [kind, h] of Object.entries(c.providerEvents ?? {})) {
      putOnce(providerEvents, kind, h as unknown as ProviderEventHandler<never>, 'provider event', c.name);
    }
    for (const [type, f] of Object.entries(c.fulfillments ?? {})) putOnce(fulfillments, type, f, 'fulfillment', c.name);
    for (const [name, j] of Object.entries(c.jobs ?? {})) putOnce(jobs, name, j, 'job', c.name);
  }
  return {
    capabilities,
    providers,
    providerEvents,
    fulfillments,
    sessionAdopters: capabilities.flatMap((c) => c.sessionAdopters ?? []),
    sessionAuthenticators: capabilities.flatMap((c) => c.sessionAuthenticators ?? []),
    jobs: [...jobs].map(([name, run]) => ({ name, run })),
  };
}

/** The provider registered under `name`, if any. */
export function getProvider(ctx: Pick<AppContext, 'registry'>, name: string): PaymentProvider | undefined {
  return ctx.registry.providers.get(name as ProviderName);
}
