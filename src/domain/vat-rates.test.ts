import { describe, expect, it } from 'vitest';
import { decideVat, EU_COUNTRIES, isValidVatIdFormat, splitInclusive, standardVatRate } from './vat-rates.ts';

describe('EU VAT rules', () => {
  it('lists the 27 member states and picks the rate in force on the date', () => {
    expect(EU_COUNTRIES).toHaveLength(27);
    expect(standardVatRate('FI', new Date('2024-08-31T23:59:59Z'))).toBe(24);
    expect(standardVatRate('FI', new Date('2024-09-01T00:00:00Z'))).toBe(25.5);
    expect(standardVatRate('EE', new Date('2026-01-01T00:00:00Z'))).toBe(24);
    expect(standardVatRate('de', new Date('2020-08-01T00:00:00Z'))).toBe(16);
    expect(standardVatRate('FR', new Date('2026-01-01T00:00:00Z'), { FR: 5.5 })).toBe(5.5);
    expect(standardVatRate('US', new Date('2026-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('checks VAT ids by prefix and country pattern (Greece is EL)', () => {
    expect(isValidVatIdFormat('DE 123 456 789', 'DE')).toBe(true);
    expect(isValidVatIdFormat('EL123456789', 'GR')).toBe(true);
    expect(isValidVatIdFormat('NL123456789B01', 'NL')).toBe(true);
    expect(isValidVatIdFormat('IT1234', 'IT')).toBe(false);
    expect(isValidVatIdFormat('FR123456789', 'DE')).toBe(false);
  });

  it('decides standard (OSS), reverse charge or none, and splits inclusive amounts exactly', () => {
    const at = new Date('2026-03-01T00:00:00Z');
    const seller = { sellerCountry: 'FR', sellerVatId: 'FR12345678901', at };
    expect(decideVat({ ...seller, buyerCountry: 'DE', buyerVatId: null })).toEqual({ rate: 19, treatment: 'standard', country: 'DE' });
    expect(decideVat({ ...seller, buyerCountry: 'DE', buyerVatId: 'DE123456789' })).toEqual({ rate: 0, treatment: 'reverse_charge', country: 'DE' });
    expect(decideVat({ ...seller, buyerCountry: 'FR', buyerVatId: 'FR98765432109' })).toEqual({ rate: 20, treatment: 'standard', country: 'FR' });
    expect(decideVat({ ...seller, buyerCountry: null, buyerVatId: null })).toEqual({ rate: 20, treatment: 'standard', country: 'FR' });
    expect(decideVat({ ...seller, buyerCountry: 'US', buyerVatId: null }).treatment).toBe('none');
    expect(decideVat({ sellerCountry: 'FR', sellerVatId: null, at, buyerCountry: 'DE', buyerVatId: null }).treatment).toBe('none');
    expect(splitInclusive(1500, 19)).toEqual({ net: 1261, tax: 239 });
    expect(splitInclusive(1000, 25.5)).toEqual({ net: 797, tax: 203 });
    expect(splitInclusive(999, 0)).toEqual({ net: 999, tax: 0 });
  });
});
