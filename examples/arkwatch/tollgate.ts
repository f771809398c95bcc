/**
 * Everything ArkWatch does with Tollgate (the app itself is in app.ts): the `watches` limit of the
 * customer's plan (Free: 3), the pricing page, a Pro trial without a card, the billing portal.
 */
import { Tollgate } from '@tollgate/sdk';

export type { Tollgate };
export const connect = (env = process.env) =>
  new Tollgate({ apiKey: env.TOLLGATE_KEY ?? 'sk_test_demo_arkwatch', baseUrl: env.TOLLGATE_URL ?? 'http://localhost:4242' });

export const signUp = (tg: Tollgate, id: string, email: string) => tg.customers.create({ id, email });

export async function pricingUrl(tg: Tollgate, customerId: string) {
  const s = (await tg.request('POST', '/v1/customer-sessions', { body: { customer_id: customerId } })) as { urls: { pricing: string } };
  return s.urls.pricing;
}

/** Takes one watch of the plan's allowance; `null` when the plan allows no more. */
export async function takeWatch(tg: Tollgate, customerId: string) {
  const r = await tg.track(customerId, 'watches', 1);
  return r.allowed ? { used: r.usage, limit: r.limit } : null;
}
export const giveBackWatch = (tg: Tollgate, customerId: string) => tg.track(customerId, 'watches', -1);

/** Plan, status, trial days left and the watches allowance (reads only). */
export async function account(tg: Tollgate, customerId: string) {
  const [sub, watches] = await Promise.all([tg.subscriptions.get(customerId), tg.check(customerId, 'watches', 1)]);
  return { plan: sub.plan ?? null, status: sub.status, days_remaining: sub.days_remaining ?? null, watches: { used: watches.usage, limit: watches.limit } };
}

/** Every paid plan has a 14-day trial without a card: it starts at once. */
export const startTrial = (tg: Tollgate, customerId: string, plan: string) => tg.subscriptions.subscribe(customerId, { plan });

export async function billingPortalUrl(tg: Tollgate, customerId: string, returnUrl: string) {
  return (await tg.portal.session({ customer_id: customerId, return_url: returnUrl })).url;
}
