/**
 * Everything AurisVoice does with Tollgate (the app itself is in app.ts): sign-up, balance, and
 * a dubbing job paid in credits — hold for the estimate, capture what it cost, release on failure.
 */
import { InsufficientCreditsError, Tollgate } from '@tollgate/sdk';

export type { Tollgate };
export const connect = (env = process.env) =>
  new Tollgate({ apiKey: env.TOLLGATE_KEY ?? 'sk_test_demo_aurisvoice', baseUrl: env.TOLLGATE_URL ?? 'http://localhost:4242' });

export const signUp = (tg: Tollgate, id: string, email: string) => tg.customers.create({ id, email });
export const balance = async (tg: Tollgate, id: string) => (await tg.credits.balance(id)).balance;

/** The hosted pages where this customer buys credits or sees the prices. */
async function hostedPages(tg: Tollgate, customerId: string) {
  const s = (await tg.request('POST', '/v1/customer-sessions', { body: { customer_id: customerId } })) as { urls: { credits: string; pricing: string } };
  return { buy_credits_url: s.urls.credits, pricing_url: s.urls.pricing };
}

/** Runs `work` paid by `seconds` of dubbing; `work` answers the seconds really dubbed. */
export async function paidDubbing<T extends { seconds: number }>(tg: Tollgate, customerId: string, seconds: number, work: () => Promise<T>) {
  let hold: Awaited<ReturnType<Tollgate['credits']['hold']>>;
  try {
    hold = await tg.credits.hold(customerId, { usage: { feature: 'dubbing_seconds', quantity: seconds }, expires_in: 900 });
  } catch (err) {
    if (!(err instanceof InsufficientCreditsError)) throw err;
    return { ok: false as const, required: err.required, available: err.available, ...(await hostedPages(tg, customerId)) };
  }
  try {
    const result = await work();
    // 1 credit per 10 seconds, rounded up (the catalog's credit_cost), never more than was held.
    const captured = await tg.credits.capture(hold.id, Math.min(hold.amount, Math.ceil(result.seconds / 10)));
    return { ok: true as const, result, held: hold.amount, charged: captured.captured_amount ?? hold.amount };
  } catch (err) {
    await tg.credits.release(hold.id);
    throw err;
  }
}
