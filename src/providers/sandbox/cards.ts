/** The sandbox's test cards, as Stripe documents them, each with its issuing country (VAT evidence). */
export type CardOutcome =
  | { ok: true; brand: string; last4: string; country: string; failsLater: boolean }
  | { ok: false; code: 'card_declined' | 'insufficient_funds' | 'invalid_number' | 'expired_card' | 'authentication_required'; message: string };

const CARDS: Record<string, { brand: string; country: string; outcome: 'pay' | 'decline' | 'insufficient' | 'pay_then_fail' | 'always_authenticate' }> = {
  '4242424242424242': { brand: 'visa', country: 'US', outcome: 'pay' },
  '4000056655665556': { brand: 'visa', country: 'US', outcome: 'pay' },
  '5555555555554444': { brand: 'mastercard', country: 'US', outcome: 'pay' },
  '378282246310005': { brand: 'amex', country: 'US', outcome: 'pay' },
  // Cards issued in France and Germany (Stripe's test cards by country).
  '4000002500000003': { brand: 'visa', country: 'FR', outcome: 'pay' },
  '4000002760000016': { brand: 'visa', country: 'DE', outcome: 'pay' },
  '4000000000000002': { brand: 'visa', country: 'US', outcome: 'decline' },
  '4000000000009995': { brand: 'visa', country: 'US', outcome: 'insufficient' },
  '4000000000000341': { brand: 'visa', country: 'US', outcome: 'pay_then_fail' },
  // 3-D Secure on every payment: passes on the hosted page, needs the customer off-session.
  '4000002760003184': { brand: 'visa', country: 'DE', outcome: 'always_authenticate' },
};

export function normaliseCard(input: string): string {
  return input.replace(/[\s-]/g, '');
}

const TOKEN_PREFIX = 'tok_sandbox_';

/**
 * What the sandbox saves for a card: a token naming the test card by brand and last four digits,
 * never its number (`tok_sandbox_visa_4242`). Charging a token behaves like charging the card.
 */
export function cardToken(input: string): string {
  const n = normaliseCard(input);
  const card = CARDS[n];
  return `${TOKEN_PREFIX}${card?.brand ?? 'card'}_${n.slice(-4)}`;
}

/** The test card a token stands for (a card number saved before tokens is taken as it is). */
function cardOf(input: string): string {
  if (!input.startsWith(TOKEN_PREFIX)) return input;
  const [brand, last4] = input.slice(TOKEN_PREFIX.length).split('_');
  return Object.keys(CARDS).find((n) => CARDS[n]?.brand === brand && n.endsWith(last4 ?? '-')) ?? '';
}

function luhn(n: string): boolean {
  let sum = 0;
  for (let i = 0; i < n.length; i++) {
    let d = Number(n[n.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** The outcome of a first charge (checkout) with this card. */
export function firstCharge(input: string): CardOutcome {
  const n = normaliseCard(cardOf(input));
  if (!/^\d{12,19}$/.test(n) || !luhn(n)) return { ok: false, code: 'invalid_number', message: 'Your card number is invalid.' };
  const card = CARDS[n];
  if (!card) {
    return { ok: false, code: 'card_declined', message: 'Your card was declined. The sandbox accepts test cards only, such as 4242 4242 4242 4242.' };
  }
  if (card.outcome === 'decline') return { ok: false, code: 'card_declined', message: 'Your card was declined.' };
  if (card.outcome === 'insufficient') return { ok: false, code: 'insufficient_funds', message: 'Your card has insufficient funds.' };
  return { ok: true, brand: card.brand, last4: n.slice(-4), country: card.country, failsLater: card.outcome === 'pay_then_fail' };
}

/** The outcome of a later off-session charge (renewal) of a saved card. */
export function laterCharge(input: string): CardOutcome {
  const first = firstCharge(input);
  if (first.ok && first.failsLater) return { ok: false, code: 'card_declined', message: 'Your card was declined.' };
  if (first.ok && CARDS[normaliseCard(cardOf(input))]?.outcome === 'always_authenticate') {
    return { ok: false, code: 'authentication_required', message: 'This payment requires the customer to authenticate.' };
  }
  return first;
}
