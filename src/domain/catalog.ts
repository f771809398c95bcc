import { z } from 'zod';
import { AmountSchema, CurrencySchema, currencyExponent, MoneySchema } from './money.ts';

const Id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lowercase letters, digits, "_" or "-"');
const Name = z.string().min(1).max(200);
const Count = z.number().int().min(0).max(1_000_000_000);

/**
 * A catalog price: amount and currency, and whether VAT is included in it (`inclusive`) or added on
 * top at checkout (`exclusive`). Without `tax_behavior` the project's invoice setting
 * `prices_include_tax` decides (default: inclusive).
 */
export const PriceSchema = MoneySchema.extend({ tax_behavior: z.enum(['inclusive', 'exclusive']).optional() }).strict();
export type Price = z.infer<typeof PriceSchema>;

/**
 * A feature an app asks about.
 * - metered: counted and reset each billing period (API calls per month)
 * - allocated: counts what is held now (watches, seats); a negative track releases units
 * - boolean: on or off (priority support)
 * - value: a configuration value per plan (check_interval_min)
 * - credits: consumed from the prepaid credit balance, converted by `credit_cost`
 */
export const FeatureSchema = z
  .object({
    id: Id,
    name: Name.optional(),
    type: z.enum(['metered', 'allocated', 'boolean', 'value', 'credits']),
    unit: z.string().max(40).optional(),
    /** credits = ceil(quantity * credits / per) with rounding "up" (or floor / nearest). */
    credit_cost: z
      .object({
        credits: z.number().int().min(1).max(1_000_000),
        per: z.number().int().min(1).max(1_000_000_000).default(1),
        rounding: z.enum(['up', 'down', 'nearest']).default('up'),
      })
      .strict()
      .optional(),
  })
  .strict();
export type Feature = z.infer<typeof FeatureSchema>;

/** What a plan grants for one feature: a limit, a boolean, or a value. */
export const PlanFeatureSchema = z.union([
  z.boolean(),
  z
    .object({
      limit: Count.nullable().optional(), // null = unlimited
      value: z.union([z.number(), z.string(), z.boolean()]).optional(),
      reset: z.enum(['period', 'month', 'never']).optional(),
      /** Beyond the limit, each extra unit is charged in credits instead of refused. */
      overage_credits: z.number().int().min(0).optional(),
    })
    .strict(),
]);
export type PlanFeature = z.infer<typeof PlanFeatureSchema>;

export const PlanSchema = z
  .object({
    id: Id,
    name: Name,
    description: z.string().max(2000).optional(),
    price: PriceSchema,
    interval: z.enum(['month', 'year']).default('month'),
    trial_days: z.number().int().min(0).max(730).default(0),
    trial_requires_card: z.boolean().default(false),
    /** Price is per unit (seat); checkout `quantity` sets the seats. */
    per_seat: z.boolean().default(false),
    included_credits: Count.default(0),
    /**
     * What happens to unused included credits at period end: `keep` (they stay, the default),
     * `reset` (they expire), `rollover` (they carry into the next period up to the cap).
     */
    included_credits_mode: z.enum(['keep', 'reset', 'rollover']).optional(),
    included_credits_rollover_cap: Count.optional(),
    features: z.record(z.string(), PlanFeatureSchema).default({}),
    popular: z.boolean().default(false),
    active: z.boolean().default(true),
    /** Ordering for upgrade/downgrade when prices tie. */
    rank: z.number().int().optional(),
    /** A subscription to this plan (a trial too) or a payment for it gives the customer one API key (docs/api-keys.md). */
    issues_api_key: z.boolean().optional(),
  })
  .strict();
export type Plan = z.infer<typeof PlanSchema>;

export const CreditPackSchema = z
  .object({
    id: Id,
    name: Name,
    credits: z.number().int().min(1).max(1_000_000_000),
    price: PriceSchema,
    popular: z.boolean().default(false),
    active: z.boolean().default(true),
    /**
     * What the pack buys in the product's own unit, for display only: e.g. `{label: "minutes of dubbing",
     * per_credit: 10 / 60}` shows "≈ 2.5 minutes of dubbing" on a 15-credit pack. Charging stays in credits.
     */
    unit: z
      .object({
        label: z.string().trim().min(1).max(60),
        per_credit: z.number().positive().finite().max(1_000_000),
      })
      .strict()
      .optional(),
    /** Buying this pack gives the customer one API key, once (docs/api-keys.md). */
    issues_api_key: z.boolean().optional(),
    /**
     * Pay what you want: the buyer picks an amount between `min` and `max` (minor units of the
     * pack's currency) and gets `credits_per_unit` credits per one major unit (per €1), rounded
     * down. `price` is then the suggested amount and `credits` what it buys (docs/credits.md).
     */
    pay_what_you_want: z
      .object({
        min: AmountSchema.min(1),
        max: AmountSchema.min(1),
        credits_per_unit: z.number().int('must be a whole number of credits').min(1).max(1_000_000),
      })
      .strict()
      .optional(),
  })
  .strict();
export type CreditPack = z.infer<typeof CreditPackSchema>;

export const ProductSchema = z
  .object({
    id: Id,
    name: Name,
    description: z.string().max(5000).optional(),
    price: PriceSchema,
    /** null = unlimited (digital goods). */
    stock: Count.nullable().default(null),
    active: z.boolean().default(true),
    digital: z.boolean().default(false),
    image_url: z.string().url().optional(),
    category: z.string().max(100).optional(),
  })
  .strict();
export type Product = z.infer<typeof ProductSchema>;

export const CouponSchema = z
  .object({
    id: Id,
    /** The promotion code customers type (case-insensitive). */
    code: z.string().min(1).max(64),
    percent_off: z.number().int().min(1).max(100).optional(),
    amount_off: MoneySchema.optional(),
    duration: z.enum(['once', 'repeating', 'forever']),
    duration_in_months: z.number().int().min(1).max(120).optional(),
    plans: z.array(Id).optional(),
    active: z.boolean().default(true),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.percent_off === undefined) === (c.amount_off === undefined))
      ctx.addIssue({ code: 'custom', path: ['percent_off'], message: 'exactly one of percent_off or amount_off is required' });
    if (c.duration === 'repeating' && !c.duration_in_months)
      ctx.addIssue({ code: 'custom', path: ['duration_in_months'], message: 'is required when duration is "repeating"' });
  });
export type Coupon = z.infer<typeof CouponSchema>;

export const CatalogSchema = z
  .object({
    name: z.string().max(200).optional(),
    currency: CurrencySchema.default('eur'),
    theme: z
      .object({
        name: z.string().max(200).optional(),
        primary_color: z.string().regex(/^#[0-9a-fA-F]{6}$/).optional(),
        accent_color: z.string().regex(/^#[0-9a-fA-F]{6}$/).optional(),
        logo_url: z.string().url().optional(),
      })
      .strict()
      .optional(),
    signup_credits: Count.default(0),
    /** credits.low_balance fires when a deduct crosses this balance. */
    low_balance_threshold: Count.optional(),
    features: z.array(FeatureSchema).default([]),
    plans: z.array(PlanSchema).default([]),
    /** Plan for customers with no subscription (status "free"). */
    free_plan: Id.optional(),
    /** Trial every new customer starts with, once. */
    default_trial: z.object({ plan: Id, days: z.number().int().min(1).max(730) }).strict().optional(),
    credit_packs: z.array(CreditPackSchema).default([]),
    products: z.array(ProductSchema).default([]),
    coupons: z.array(CouponSchema).default([]),
    onboarding: z
      .object({ steps: z.array(z.object({ id: Id, name: Name, optional: z.boolean().default(false) }).strict()) })
      .strict()
      .optional(),
    secrets: z.array(z.object({ name: Id, label: z.string().max(200).optional() }).strict()).default([]),
    /** JSON schemas of customer settings objects, by key (e.g. "studio"). */
    settings_schema: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    locale: z.string().max(10).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const unique = (items: { id: string }[], path: string) => {
      const seen = new Set<string>();
      items.forEach((it, i) => {
        if (seen.has(it.id)) ctx.addIssue({ code: 'custom', path: [path, i, 'id'], message: `duplicate id "${it.id}"` });
        seen.add(it.id);
      });
    };
    unique(c.features, 'features');
    unique(c.plans, 'plans');
    unique(c.credit_packs, 'credit_packs');
    unique(c.products, 'products');
    unique(c.coupons, 'coupons');
    c.credit_packs.forEach((p, i) => {
      const pwyw = p.pay_what_you_want;
      if (!pwyw) return;
      const at = (field: string) => ['credit_packs', i, 'pay_what_you_want', field];
      if (pwyw.min > pwyw.max) ctx.addIssue({ code: 'custom', path: at('max'), message: `must be at least min (${pwyw.min})` });
      else if (p.price.amount < pwyw.min || p.price.amount > pwyw.max)
        ctx.addIssue({ code: 'custom', path: ['credit_packs', i, 'price', 'amount'], message: `the suggested amount must be between min (${pwyw.min}) and max (${pwyw.max})` });
      else if (packCreditsFor(p, pwyw.max) > 1_000_000_000)
        ctx.addIssue({ code: 'custom', path: at('max'), message: 'buys more than 1,000,000,000 credits' });
      else if (packCreditsFor(p, pwyw.min) < 1)
        ctx.addIssue({ code: 'custom', path: at('min'), message: 'must buy at least one credit' });
      else if (p.credits !== packCreditsFor(p, p.price.amount))
        ctx.addIssue({ code: 'custom', path: ['credit_packs', i, 'credits'], message: `must be ${packCreditsFor(p, p.price.amount)}, what the suggested price buys` });
    });
    const features = new Map(c.features.map((f) => [f.id, f]));
    c.plans.forEach((p, i) => {
      if (p.included_credits_mode === 'rollover' && p.included_credits_rollover_cap === undefined)
        ctx.addIssue({ code: 'custom', path: ['plans', i, 'included_credits_rollover_cap'], message: 'is required when included_credits_mode is "rollover"' });
      if (p.included_credits_mode !== 'rollover' && p.included_credits_rollover_cap !== undefined)
        ctx.addIssue({ code: 'custom', path: ['plans', i, 'included_credits_rollover_cap'], message: 'is only allowed when included_credits_mode is "rollover"' });
      for (const fid of Object.keys(p.features)) {
        if (!features.has(fid))
          ctx.addIssue({ code: 'custom', path: ['plans', i, 'features', fid], message: `unknown feature "${fid}"` });
      }
    });
    c.features.forEach((f, i) => {
      if (f.type === 'credits' && !f.credit_cost)
        ctx.addIssue({ code: 'custom', path: ['features', i, 'credit_cost'], message: 'is required for a credits feature' });
    });
    const planIds = new Set(c.plans.map((p) => p.id));
    if (c.free_plan && !planIds.has(c.free_plan))
      ctx.addIssue({ code: 'custom', path: ['free_plan'], message: `unknown plan "${c.free_plan}"` });
    if (c.default_trial && !planIds.has(c.default_trial.plan))
      ctx.addIssue({ code: 'custom', path: ['default_trial', 'plan'], message: `unknown plan "${c.default_trial.plan}"` });
    const codes = new Set<string>();
    c.coupons.forEach((cp, i) => {
      const code = cp.code.toUpperCase();
      if (codes.has(code)) ctx.addIssue({ code: 'custom', path: ['coupons', i, 'code'], message: `duplicate code "${cp.code}"` });
      codes.add(code);
    });
  });
export type CatalogInput = z.input<typeof CatalogSchema>;
export type Catalog = z.infer<typeof CatalogSchema>;

export const EMPTY_CATALOG: Catalog = CatalogSchema.parse({});

/**
 * The credits an amount (minor units of the pack's currency) buys: for a pay-what-you-want pack,
 * `credits_per_unit` per major unit, rounded down to whole credits; for a fixed pack, its credits
 * when the amount is its price (0 otherwise).
 */
export function packCreditsFor(pack: Pick<CreditPack, 'credits' | 'price' | 'pay_what_you_want'>, amountMinor: number): number {
  if (!Number.isSafeInteger(amountMinor) || amountMinor < 0) return 0;
  const pwyw = pack.pay_what_you_want;
  if (!pwyw) return amountMinor === pack.price.amount ? pack.credits : 0;
  // Integers only: amount × credits per unit, divided by the minor units in one major unit.
  const perMajor = 10 ** currencyExponent(pack.price.currency);
  return Math.floor((amountMinor * pwyw.credits_per_unit) / perMajor);
}

/** Credits a usage quantity costs under a feature's conversion. */
export function creditsForUsage(feature: Feature, quantity: number): number {
  const cost = feature.credit_cost ?? { credits: 1, per: 1, rounding: 'up' as const };
  const num = quantity * cost.credits;
  if (cost.rounding === 'up') return Math.ceil(num / cost.per);
  if (cost.rounding === 'down') return Math.floor(num / cost.per);
  return Math.round(num / cost.per);
}

export function findPlan(c: Catalog, id: string): Plan | undefined {
  return c.plans.find((p) => p.id === id);
}
export function findPack(c: Catalog, id: string): CreditPack | undefined {
  return c.credit_packs.find((p) => p.id === id);
}
export function findFeature(c: Catalog, id: string): Feature | undefined {
  return c.features.find((f) => f.id === id);
}
export function findProduct(c: Catalog, id: string): Product | undefined {
  return c.products.find((p) => p.id === id);
}
export function findCouponByCode(c: Catalog, code: string): Coupon | undefined {
  const upper = code.trim().toUpperCase();
  return c.coupons.find((cp) => cp.active && cp.code.toUpperCase() === upper);
}

