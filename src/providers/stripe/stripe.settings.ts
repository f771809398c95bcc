import { z } from 'zod';
import type { ProviderSettingsSpec } from '../provider.ts';

const tail = (s: string) => `${s.slice(0, s.indexOf('_', s.indexOf('_') + 1) + 1)}…${s.slice(-4)}`;

export const StripeSettingsSchema = z
  .object({
    secret_key: z
      .string()
      .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}$/, 'must be a Stripe secret or restricted key (sk_test_…, sk_live_…, rk_…)'),
    /** Several signing secrets at once, so an endpoint's secret can be rolled without dropping events. */
    webhook_secrets: z
      .array(z.string().regex(/^whsec_[A-Za-z0-9+/=_-]{8,}$/, 'must be a webhook signing secret (whsec_…)'))
      .max(5)
      .default([]),
    publishable_key: z.string().regex(/^pk_(test|live)_[A-Za-z0-9_]{8,}$/, 'must be a publishable key (pk_test_…, pk_live_…)').optional(),
    /** Stripe Tax: Checkout Sessions are created with `automatic_tax: {enabled: true}` and Stripe computes the tax. */
    automatic_tax: z.boolean().default(false),
  })
  .strict()
  .superRefine((s, ctx) => {
    const live = /_live_/.test(s.secret_key.slice(0, 8));
    if (s.publishable_key && s.publishable_key.startsWith('pk_live_') !== live) {
      ctx.addIssue({ code: 'custom', path: ['publishable_key'], message: 'must be in the same mode (test/live) as secret_key' });
    }
  });
export type StripeSettings = z.infer<typeof StripeSettingsSchema>;

export function stripeMode(s: Pick<StripeSettings, 'secret_key'>): 'test' | 'live' {
  return /^(sk|rk)_live_/.test(s.secret_key) ? 'live' : 'test';
}

export const stripeSettingsSpec: ProviderSettingsSpec<typeof StripeSettingsSchema> = {
  schema: StripeSettingsSchema,
  mode: stripeMode,
  preview: (s) => ({
    secret_key: tail(s.secret_key),
    webhook_secrets: s.webhook_secrets.map((w) => `whsec_…${w.slice(-4)}`),
    publishable_key: s.publishable_key ?? null,
    automatic_tax: s.automatic_tax,
  }),
};
