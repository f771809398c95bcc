/**
 * Reply shapes for operations whose success reply the OpenAPI document does not describe yet.
 * Each ergonomic call's type is the document's own (see `Reply` in types.ts) as soon as the
 * document describes it; these are used only until then.
 */

export interface Money {
  /** Integer minor units (cents). */
  amount: number;
  /** Lowercase ISO 4217 code. */
  currency: string;
}

export interface List<T> {
  data: T[];
  has_more: boolean;
}

interface Open {
  [field: string]: unknown;
}

export interface Customer extends Open {
  id: string;
  object: 'customer';
  email: string | null;
  name: string | null;
  metadata?: Record<string, unknown>;
  created_at: string;
  balance?: number;
  credits?: { balance: number; held: number; available: number };
}

export interface UsageAnswer extends Open {
  allowed: boolean;
  reason?: 'limit_reached' | 'insufficient_credits' | 'not_included';
  feature: string;
  plan: string | null;
  usage?: number;
  limit?: number | null;
  remaining?: number | null;
  balance?: number;
  required?: number;
  value?: unknown;
}

export interface CheckoutSession extends Open {
  id: string;
  session_id: string;
  object: 'checkout_session';
  customer_id: string | null;
  url: string | null;
  status: 'open' | 'complete' | 'expired';
  amount_total?: Money;
}

export interface Subscription extends Open {
  object: 'subscription';
  customer_id: string;
  plan: string | null;
  status: string;
  trial_end: string | null;
  days_remaining: number | null;
  current_period_end: string | null;
  cancel_at_period_end: boolean;
}

export interface PlanChangePreview extends Open {
  change: string;
  plan: string;
}

export interface PortalSession extends Open {
  url: string;
}

export interface CartItem extends Open {
  id: string;
  object: 'cart_item';
  product_id: string;
  name: string;
  quantity: number;
  unit_price: Money;
  line_total: Money;
  purchasable: boolean;
}

export interface Cart extends Open {
  object: 'cart';
  customer_id: string;
  items: CartItem[];
  count: number;
  total: Money;
}

export interface Order extends Open {
  id: string;
  object: 'order';
  customer_id: string;
  status: 'pending' | 'paid' | 'fulfilled' | 'canceled' | 'refunded';
  items: { id: string; product_id: string; name: string; quantity: number; unit_price: Money; line_total: Money }[];
  count: number;
  total: Money;
  expires_at: string | null;
  created_at: string;
}

export interface SecretInfo extends Open {
  name: string;
  preview: string;
  updated_at: string;
}

export interface ResolvedSecret extends Open {
  object: 'resolved_secret';
  name: string;
  /** Where the value came from: the customer's own secret, or the project's platform secret. */
  source: string;
  preview: string;
  value: string;
}

export interface AutoTopUp extends Open {
  enabled: boolean;
  threshold: number;
  pack: string | null;
  monthly_cap: number;
}

export interface CreditTransfer extends Open {
  id: string;
  object: 'credit_transfer';
  amount: number;
  reason: string;
  from: { customer_id: string; balance: number; held: number; available: number; transaction_id: string };
  to: { customer_id: string; balance: number; held: number; available: number; transaction_id: string };
  created_at: string;
}

export interface Plans extends Open {
  plans: Open[];
  credit_packs: Open[];
}
