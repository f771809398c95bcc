/**
 * AurisVoice's backend against Tollgate: sign-up credits, buy a pack, charge a dubbing job.
 * Run `TOLLGATE_DEMO_KEY=sk_test_demo npm start`, then `npx tsx examples/aurisvoice.ts`.
 * `@tollgate/sdk` is the package in sdk/ (an npm workspace of this repository).
 */
import { InsufficientCreditsError, Tollgate } from '@tollgate/sdk';

const tollgate = new Tollgate({ apiKey: process.env.TOLLGATE_KEY ?? 'sk_test_demo_aurisvoice', baseUrl: process.env.TOLLGATE_URL });

async function dub(userId: string, seconds: number): Promise<void> {
  // Reserve before the long job, capture what it really cost, release if it fails.
  const hold = await tollgate.credits.hold(userId, { usage: { feature: 'dubbing_seconds', quantity: seconds }, expires_in: 900 });
  try {
    const actualSeconds = Math.round(seconds * 0.9); // the dubbing engine reports the real duration
    await tollgate.credits.capture(hold.id, Math.ceil(actualSeconds / 10));
  } catch (err) {
    await tollgate.credits.release(hold.id);
    throw err;
  }
}

const user = `demo-${Date.now()}`;
await tollgate.customers.create({ id: user, email: `${user}@example.com` });
console.log('balance after sign-up', await tollgate.credits.balance(user));
const session = await tollgate.checkout.create({
  customer_id: user,
  credit_pack: 'pro',
  success_url: 'http://localhost:3000/credits?session={CHECKOUT_SESSION_ID}',
  cancel_url: 'http://localhost:3000/credits',
});
console.log('send the customer to', session.url);
await tollgate.request('POST', '/v1/test-helpers/checkout/{session_id}/pay', {
  params: { path: { session_id: session.session_id as string } },
  body: { card: '4242424242424242' },
});
console.log('balance after paying', await tollgate.credits.balance(user));
await dub(user, 25);
try {
  await tollgate.credits.deduct(user, { amount: 10_000 });
} catch (err) {
  if (err instanceof InsufficientCreditsError) console.log('402:', err.available, 'available,', err.required, 'required');
  else throw err;
}
console.log((await tollgate.credits.transactions(user)).data.map((e) => `${e.amount} ${e.reason} → ${e.balance_after}`));
