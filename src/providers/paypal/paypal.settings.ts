import { z } from 'zod';
import { preview } from '../../lib/crypto.ts';
import type { ProviderSettingsSpec } from '../provider.ts';

export const PaypalSettingsSchema = z
  .object({
    client_id: z.string().min(8).max(200),
    client_secret: z.string().min(8).max(200),
    /** The id PayPal gives the webhook subscription; part of every signed message. */
    webhook_id: z.string().min(1).max(100),
    mode: z.enum(['sandbox', 'live']).default('sandbox'),
  })
  .strict();
export type PaypalSettings = z.infer<typeof PaypalSettingsSchema>;

export const paypalSettingsSpec: ProviderSettingsSpec<typeof PaypalSettingsSchema> = {
  schema: PaypalSettingsSchema,
  preview: (c) => ({ client_id: preview(c.client_id, 8), client_secret: preview(c.client_secret, 4), webhook_id: c.webhook_id, paypal_mode: c.mode }),
  mode: (c) => (c.mode === 'live' ? 'live' : 'test'),
};
