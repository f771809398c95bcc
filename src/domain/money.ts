import { z } from 'zod';

/** Currencies whose minor unit is not 1/100. */
const EXPONENT: Record<string, number> = { jpy: 0, krw: 0, clp: 0, vnd: 0, isk: 0, huf: 2, bhd: 3, kwd: 3, jod: 3, tnd: 3 };

export const MAX_AMOUNT = 100_000_000_000; // 1e11 minor units: far below 2^53, above any sane single price

export const CurrencySchema = z
  .string()
  .regex(/^[a-z]{3}$/, 'must be a lowercase ISO 4217 code such as "eur"');

export const AmountSchema = z.number().int('must be an integer of minor units').min(0).max(MAX_AMOUNT);

export const MoneySchema = z.object({ amount: AmountSchema, currency: CurrencySchema }).strict();
export type Money = z.infer<typeof MoneySchema>;

export function currencyExponent(currency: string): number {
  return EXPONENT[currency] ?? 2;
}

/** Formats minor units for people: 1500 eur → "15.00 €". */
export function formatMoney(m: Money, locale = 'en'): string {
  const exp = currencyExponent(m.currency);
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency: m.currency.toUpperCase(),
    minimumFractionDigits: exp,
    maximumFractionDigits: exp,
  }).format(m.amount / 10 ** exp);
}

/** Integer percentage of an amount, rounded half up (used for discounts). */
export function percentOf(amount: number, percent: number): number {
  return Math.floor((amount * percent + 50) / 100);
}
