-- What `tollgate import` / POST /v1/imports/<shape> brought in: one row per source record (a
-- customer's balance, a payment, a users-table row, a CSV line), keyed by a stable source id, so a
-- second run finds it and changes nothing. `amount` is the balance or payment amount imported.
CREATE TABLE import_records (
  project_id  text NOT NULL,
  shape       text NOT NULL CHECK (shape IN ('credits', 'payments', 'users', 'customers')),
  source_id   text NOT NULL,
  customer_id text,
  target_id   text,
  amount      bigint,
  fingerprint text NOT NULL,
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, shape, source_id)
);
CREATE INDEX import_records_customer ON import_records (project_id, customer_id);

-- Existing Stripe prices (a product's STRIPE_PRICE_<PLAN> ids) bound to catalog plans and packs, so
-- the subscriptions and payments made on them map to the catalog.
CREATE TABLE stripe_price_bindings (
  project_id text NOT NULL,
  price_ref  text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('plan', 'pack')),
  item_id    text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, price_ref)
);

-- Existing Stripe Payment Links (https://buy.stripe.com/...) adopted by `tollgate import stripe`:
-- a Checkout Session paid through one (not made by Tollgate) grants or starts the catalog item its
-- price is bound to, for the buyer it names.
CREATE TABLE stripe_payment_links (
  project_id text NOT NULL,
  link_ref   text NOT NULL,
  url        text NOT NULL,
  price_ref  text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('plan', 'pack')),
  item_id    text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, link_ref)
);
