/**
 * Starting catalogs for `tollgate init`. Keys named "//" are comments: `tollgate push` drops every
 * key that starts with "//" before validating, so a written file pushes as is.
 */
export const CATALOG_TEMPLATES = ['credits', 'tiers', 'shop'] as const;
export type CatalogTemplate = (typeof CATALOG_TEMPLATES)[number];

const credits = {
  '//': 'Credit packs: customers buy credits once and spend them on usage. Prices are integer minor units (900 = 9.00). Keys named "//" are comments; tollgate push ignores them.',
  currency: 'eur',
  signup_credits: 10,
  '// signup_credits': 'every new customer starts with this many free credits',
  low_balance_threshold: 5,
  features: [
    {
      '//': 'one generation costs 1 credit per image; ask POST /v1/check with feature "generations"',
      id: 'generations',
      name: 'Image generations',
      type: 'credits',
      unit: 'image',
      credit_cost: { credits: 1, per: 1, rounding: 'up' },
    },
  ],
  credit_packs: [
    { id: 'starter', name: 'Starter', credits: 50, price: { amount: 500, currency: 'eur' } },
    { id: 'pro', name: 'Pro', credits: 200, price: { amount: 1500, currency: 'eur' }, popular: true },
    {
      '//': 'unit is for display only: "≈ 1000 images"',
      id: 'studio',
      name: 'Studio',
      credits: 1000,
      price: { amount: 6000, currency: 'eur' },
      unit: { label: 'images', per_credit: 1 },
    },
  ],
};

const tiers = {
  '//': 'Tiers: monthly plans with limits per feature; Pro starts with a 14-day trial. Prices are integer minor units (1900 = 19.00). Keys named "//" are comments; tollgate push ignores them.',
  currency: 'eur',
  features: [
    { id: 'api_calls', name: 'API calls', type: 'metered', unit: 'call' },
    { id: 'seats', name: 'Seats', type: 'allocated', unit: 'seat' },
    { id: 'priority_support', name: 'Priority support', type: 'boolean' },
  ],
  '// free_plan': 'customers without a subscription get the free plan',
  free_plan: 'free',
  plans: [
    {
      id: 'free',
      name: 'Free',
      price: { amount: 0, currency: 'eur' },
      features: { api_calls: { limit: 1000, reset: 'period' }, seats: { limit: 1 }, priority_support: false },
    },
    {
      '//': 'trial_days: a new subscription is free for 14 days; trial_requires_card false = no card needed',
      id: 'pro',
      name: 'Pro',
      price: { amount: 1900, currency: 'eur' },
      interval: 'month',
      trial_days: 14,
      trial_requires_card: false,
      popular: true,
      features: { api_calls: { limit: 50000, reset: 'period' }, seats: { limit: 5 }, priority_support: false },
    },
    {
      id: 'team',
      name: 'Team',
      price: { amount: 4900, currency: 'eur' },
      interval: 'month',
      features: { api_calls: { limit: null, '//': 'null = unlimited' }, seats: { limit: 25 }, priority_support: true },
    },
  ],
};

const shop = {
  '//': 'Shop: products sold through the cart and orders. Prices are integer minor units (2500 = 25.00); stock null = unlimited. Keys named "//" are comments; tollgate push ignores them.',
  currency: 'eur',
  products: [
    {
      id: 'tshirt',
      name: 'T-shirt',
      description: 'Organic cotton, one size',
      price: { amount: 2500, currency: 'eur' },
      stock: 100,
      category: 'apparel',
    },
    { id: 'mug', name: 'Mug', price: { amount: 1200, currency: 'eur' }, stock: 40, category: 'home' },
    {
      '//': 'digital goods have no stock limit',
      id: 'ebook',
      name: 'E-book',
      price: { amount: 900, currency: 'eur' },
      stock: null,
      digital: true,
    },
  ],
  coupons: [{ id: 'welcome', code: 'WELCOME10', percent_off: 10, duration: 'once' }],
};

export const CATALOG_TEMPLATE_DOCUMENTS: Record<CatalogTemplate, Record<string, unknown>> = { credits, tiers, shop };

/** A parsed catalog file without its comment keys (every object key starting with "//", at any depth). */
export function stripCatalogComments(doc: unknown): unknown {
  if (Array.isArray(doc)) return doc.map(stripCatalogComments);
  if (doc && typeof doc === 'object') {
    return Object.fromEntries(
      Object.entries(doc as Record<string, unknown>)
        .filter(([k]) => !k.startsWith('//'))
        .map(([k, v]) => [k, stripCatalogComments(v)]),
    );
  }
  return doc;
}
