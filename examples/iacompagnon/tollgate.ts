/**
 * Everything IAcompagnon does with Tollgate (the app itself is in app.ts): each new user starts
 * the catalog's default trial (14 days of Premium), the banner reads the subscription, the upgrade
 * button opens a checkout, and each message is counted against the plan.
 */
import { Tollgate } from '@tollgate/sdk';

export type { Tollgate };
export const connect = (env = process.env) =>
  new Tollgate({ apiKey: env.TOLLGATE_KEY ?? 'sk_test_demo_iacompagnon', baseUrl: env.TOLLGATE_URL ?? 'http://localhost:4242' });

/** Creating the customer starts the default trial: nothing else to call. */
export const signUp = (tg: Tollgate, id: string, email: string) => tg.customers.create({ id, email });

export async function subscription(tg: Tollgate, customerId: string) {
  const s = await tg.subscriptions.get(customerId);
  // `next_charge` is null during a trial until a card is saved (then the trial ends in a charge); a free customer has none.
  return { plan: s.plan, status: s.status, days_remaining: s.days_remaining, next_charge: 'next_charge' in s ? s.next_charge : null };
}

/** A hosted checkout for the plan; the customer is sent to `url`. */
export async function upgradeUrl(tg: Tollgate, customerId: string, plan: string, returnTo: string) {
  const session = await tg.checkout.create({ customer_id: customerId, plan, success_url: `${returnTo}?upgraded={CHECKOUT_SESSION_ID}`, cancel_url: returnTo });
  return session.url;
}

/** Counts one message; `false` when the plan's monthly messages are used up. */
export const countMessage = async (tg: Tollgate, customerId: string) => (await tg.track(customerId, 'messages', 1)).allowed;
