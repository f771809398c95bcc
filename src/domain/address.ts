import { z } from 'zod';

/** An ISO 3166-1 alpha-2 country code, stored upper-case. */
export const CountryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code')
  .transform((c) => c.toUpperCase());

/** A postal address as printed on invoices (the country is a field of its own beside it). */
export const PostalAddress = z
  .object({
    line1: z.string().max(200).optional(),
    line2: z.string().max(200).optional(),
    postal_code: z.string().max(20).optional(),
    city: z.string().max(100).optional(),
    state: z.string().max(100).optional(),
  })
  .strict();
