-- Subscriptions, trials, usage counters, portal sessions and payment links.

CREATE TABLE subscriptions (
  id                    text PRIMARY KEY,
  project_id            text NOT NULL,
  customer_id           text NOT NULL,
  plan_id               text NOT NULL,
  status                text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
  -- 'sandbox' and 'tollgate' subscriptions are billed by Tollgate's own runner; others by their provider.
  provider              text NOT NULL,
  provider_ref          text,
  quantity              integer NOT NULL DEFAULT 1 CHECK (quantity >= 1),
  -- Frozen at subscribe time: a catalog change never reprices an existing subscription.
  price_amount          bigint NOT NULL CHECK (price_amount >= 0),
  currency              text NOT NULL,
  interval              text NOT NULL CHECK (interval IN ('month', 'year')),
  -- Periods are counted from the anchor so end-of-month dates clamp without drifting (Jan 31 → Feb 28 → Mar 31).
  billing_anchor        timestamptz NOT NULL,
  period_index          integer NOT NULL DEFAULT 0,
  current_period_start  timestamptz NOT NULL,
  current_period_end    timestamptz NOT NULL,
  trial_start           timestamptz,
  trial_end             timestamptz,
  trial_will_end_sent   boolean NOT NULL DEFAULT false,
  cancel_at_period_end  boolean NOT NULL DEFAULT false,
  canceled_at           timestamptz,
  ended_at              timestamptz,
  pending_plan_id       text,
  pending_price_amount  bigint,
  -- Coupon: percent or amount off, for `coupon_months` months from `coupon_start_cycle` (null = forever).
  coupon_id             text,
  coupon_percent_off    integer,
  coupon_amount_off     bigint,
  coupon_duration       text CHECK (coupon_duration IN ('once', 'repeating', 'forever')),
  coupon_months         integer,
  coupon_start_cycle    integer NOT NULL DEFAULT 0,
  cycles_billed         integer NOT NULL DEFAULT 0,
  -- past_due: the open invoice and its retries.
  open_invoice_amount   bigint,
  open_invoice_ref      text,
  retry_count           integer NOT NULL DEFAULT 0,
  next_retry_at         timestamptz,
  -- When the runner must look at it next (trial reminder, trial end, period end, retry).
  next_action_at        timestamptz,
  -- The newest provider event applied; an older one never moves the subscription back.
  provider_updated_at   timestamptz,
  provider_deleted      boolean NOT NULL DEFAULT false,
  metadata              jsonb NOT NULL DEFAULT '{}',
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL
);
CREATE UNIQUE INDEX subscriptions_provider_ref ON subscriptions(provider, provider_ref) WHERE provider_ref IS NOT NULL;
-- At most one live subscription per customer.
CREATE UNIQUE INDEX subscriptions_live ON subscriptions(project_id, customer_id) WHERE status IN ('trialing', 'active', 'past_due');
CREATE INDEX subscriptions_customer ON subscriptions(project_id, customer_id, created_at DESC);
CREATE INDEX subscriptions_due ON subscriptions(next_action_at) WHERE status IN ('trialing', 'active', 'past_due');

-- One trial per customer per project.
CREATE TABLE customer_trials (
  project_id      text NOT NULL,
  customer_id     text NOT NULL,
  plan_id         text NOT NULL,
  subscription_id text NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (project_id, customer_id)
);

-- Metered and allocated usage. `period_start` is the metered period the count belongs to (null for
-- allocated); a count from an older period reads as 0. `lim` is the limit applied by the last track.
CREATE TABLE usage_counters (
  project_id   text NOT NULL,
  customer_id  text NOT NULL,
  feature      text NOT NULL,
  used         bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
  period_start timestamptz,
  lim          bigint,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (project_id, customer_id, feature)
);

CREATE TABLE portal_sessions (
  id          text PRIMARY KEY,
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  return_url  text NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);

CREATE TABLE payment_links (
  id          text PRIMARY KEY,
  project_id  text NOT NULL,
  item_type   text NOT NULL CHECK (item_type IN ('plan', 'credit_pack')),
  item_id     text NOT NULL,
  quantity    integer NOT NULL DEFAULT 1,
  trial_days  integer,
  success_url text,
  cancel_url  text,
  active      boolean NOT NULL DEFAULT true,
  metadata    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL
);
CREATE INDEX payment_links_project ON payment_links(project_id, created_at DESC);
