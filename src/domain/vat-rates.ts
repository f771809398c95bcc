/**
 * EU VAT: the standard rate of each of the 27 member states, with the date each rate took effect,
 * and the pure rules Tollgate applies to an invoice. Data only; a project may override a country's
 * rate in its invoicing settings (`vat_rates`).
 */

/** Standard rates in percent, newest last; `from` is the first day (UTC) the rate applies. */
export const EU_STANDARD_VAT_RATES: Readonly<Record<string, readonly { from: string; rate: number }[]>> = {
  AT: [{ from: '2016-01-01', rate: 20 }],
  BE: [{ from: '1996-01-01', rate: 21 }],
  BG: [{ from: '2007-01-01', rate: 20 }],
  HR: [{ from: '2012-03-01', rate: 25 }],
  CY: [{ from: '2014-01-13', rate: 19 }],
  CZ: [{ from: '2013-01-01', rate: 21 }],
  DK: [{ from: '1992-01-01', rate: 25 }],
  EE: [
    { from: '2009-07-01', rate: 20 },
    { from: '2024-01-01', rate: 22 },
    { from: '2025-07-01', rate: 24 },
  ],
  FI: [
    { from: '2013-01-01', rate: 24 },
    { from: '2024-09-01', rate: 25.5 },
  ],
  FR: [{ from: '2014-01-01', rate: 20 }],
  DE: [
    { from: '2007-01-01', rate: 19 },
    { from: '2020-07-01', rate: 16 },
    { from: '2021-01-01', rate: 19 },
  ],
  GR: [{ from: '2016-06-01', rate: 24 }],
  HU: [{ from: '2012-01-01', rate: 27 }],
  IE: [
    { from: '2012-01-01', rate: 23 },
    { from: '2020-09-01', rate: 21 },
    { from: '2021-03-01', rate: 23 },
  ],
  IT: [{ from: '2013-10-01', rate: 22 }],
  LV: [{ from: '2012-07-01', rate: 21 }],
  LT: [{ from: '2009-09-01', rate: 21 }],
  LU: [
    { from: '2015-01-01', rate: 17 },
    { from: '2023-01-01', rate: 16 },
    { from: '2024-01-01', rate: 17 },
  ],
  MT: [{ from: '2004-05-01', rate: 18 }],
  NL: [{ from: '2012-10-01', rate: 21 }],
  PL: [{ from: '2011-01-01', rate: 23 }],
  PT: [{ from: '2011-07-01', rate: 23 }],
  RO: [
    { from: '2017-01-01', rate: 19 },
    { from: '2025-08-01', rate: 21 },
  ],
  SK: [
    { from: '2011-01-01', rate: 20 },
    { from: '2025-01-01', rate: 23 },
  ],
  SI: [{ from: '2013-07-01', rate: 22 }],
  ES: [{ from: '2012-09-01', rate: 21 }],
  SE: [{ from: '1990-07-01', rate: 25 }],
};

export const EU_COUNTRIES: readonly string[] = Object.keys(EU_STANDARD_VAT_RATES);

export function isEuCountry(country: string | null | undefined): boolean {
  return !!country && Object.hasOwn(EU_STANDARD_VAT_RATES, country.toUpperCase());
}

/** The standard rate of an EU country on a date (an override wins); undefined outside the EU. */
export function standardVatRate(country: string, at: Date, overrides: Record<string, number> = {}): number | undefined {
  const c = country.toUpperCase();
  if (overrides[c] !== undefined) return overrides[c];
  const history = EU_STANDARD_VAT_RATES[c];
  if (!history) return undefined;
  const day = at.toISOString().slice(0, 10);
  let rate: number | undefined;
  for (const h of history) if (h.from <= day) rate = h.rate;
  return rate;
}

/** VAT ids start with the country code, except Greece (EL). */
export function vatIdPrefix(country: string): string {
  return country.toUpperCase() === 'GR' ? 'EL' : country.toUpperCase();
}

/** The shape of each member state's VAT number after its prefix (as VIES documents them). */
const VAT_ID_FORMATS: Readonly<Record<string, RegExp>> = {
  AT: /^U\d{8}$/,
  BE: /^[01]\d{9}$/,
  BG: /^\d{9,10}$/,
  CY: /^\d{8}[A-Z]$/,
  CZ: /^\d{8,10}$/,
  DE: /^\d{9}$/,
  DK: /^\d{8}$/,
  EE: /^\d{9}$/,
  GR: /^\d{9}$/,
  ES: /^[0-9A-Z]\d{7}[0-9A-Z]$/,
  FI: /^\d{8}$/,
  FR: /^[0-9A-Z]{2}\d{9}$/,
  HR: /^\d{11}$/,
  HU: /^\d{8}$/,
  IE: /^(\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W])$/,
  IT: /^\d{11}$/,
  LT: /^(\d{9}|\d{12})$/,
  LU: /^\d{8}$/,
  LV: /^\d{11}$/,
  MT: /^\d{8}$/,
  NL: /^\d{9}B\d{2}$/,
  PL: /^\d{10}$/,
  PT: /^\d{9}$/,
  RO: /^\d{2,10}$/,
  SE: /^\d{12}$/,
  SI: /^\d{8}$/,
  SK: /^\d{10}$/,
};

/**
 * Whether a VAT id is well formed for the buyer's country: its prefix and that country's pattern.
 * A format check only; whether the number is registered is VIES's answer (not checked here).
 */
export function isValidVatIdFormat(vatId: string, country: string): boolean {
  const v = vatId.replace(/[\s.-]/g, '').toUpperCase();
  const c = country.toUpperCase();
  const prefix = vatIdPrefix(c);
  const format = VAT_ID_FORMATS[c];
  return !!format && v.startsWith(prefix) && format.test(v.slice(prefix.length));
}

export interface VatDecision {
  /** Percent, e.g. 20 or 25.5. */
  rate: number;
  /** `standard` (OSS: the buyer's country), `reverse_charge` (B2B across borders), `none` (seller not registered or outside the EU). */
  treatment: 'standard' | 'reverse_charge' | 'none';
  /** The country whose rate applies (null when none). */
  country: string | null;
}

/** Which VAT applies to a sale, from the seller's registration and the buyer's country and VAT id. */
export function decideVat(e: {
  sellerCountry: string | null;
  sellerVatId: string | null;
  buyerCountry: string | null;
  buyerVatId: string | null;
  at: Date;
  overrides?: Record<string, number>;
}): VatDecision {
  if (!e.sellerVatId || !e.sellerCountry || !isEuCountry(e.sellerCountry)) return { rate: 0, treatment: 'none', country: null };
  const country = (e.buyerCountry ?? e.sellerCountry).toUpperCase();
  if (!isEuCountry(country)) return { rate: 0, treatment: 'none', country };
  if (e.buyerVatId && country !== e.sellerCountry.toUpperCase() && isValidVatIdFormat(e.buyerVatId, country)) {
    return { rate: 0, treatment: 'reverse_charge', country };
  }
  return { rate: standardVatRate(country, e.at, e.overrides) ?? 0, treatment: 'standard', country };
}

/** Splits a tax-inclusive amount (minor units) into net and VAT; VAT is rounded half up, net is the rest. */
export function splitInclusive(gross: number, rate: number): { net: number; tax: number } {
  const bp = Math.round(rate * 100);
  const tax = Math.round((gross * bp) / (10_000 + bp));
  return { net: gross - tax, tax };
}

/** Whether a catalog price includes VAT (`inclusive`, the default) or has it added on top (`exclusive`). */
export type TaxBehavior = 'inclusive' | 'exclusive';

/** VAT on top of a net amount (minor units), rounded half up to the minor unit. */
export function taxOnTop(net: number, rate: number): number {
  const bp = Math.round(rate * 100);
  return Math.floor((net * bp + 5_000) / 10_000);
}

/** A VAT rate for people: `20 %`, `25.5 %` (`25,5 %` in French). */
export function formatRate(rate: number, locale = 'en'): string {
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(rate)} %`;
}
