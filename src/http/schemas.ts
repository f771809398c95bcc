import { z } from 'zod';
import { CustomerIdSchema } from '../modules/customers/customers.service.ts';

export const CustomerParams = z.object({ id: CustomerIdSchema });
export const IdParams = z.object({ id: z.string().min(1).max(255) });
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
});

/** `{data, has_more}` from rows fetched with limit + 1. */
export function page<T>(rows: T[], limit: number): { object: 'list'; data: T[]; has_more: boolean } {
  return { object: 'list', data: rows.slice(0, limit), has_more: rows.length > limit };
}

/** A timestamp in a reply (ISO 8601, UTC). */
export const Timestamp = z.iso.datetime();

/** A list reply for `item`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ object: z.literal('list'), data: z.array(item), has_more: z.boolean() });
}
