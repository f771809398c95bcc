-- Shop: stock per catalog product, carts, orders with frozen prices, and refunds of payments.

-- Units a product can still be ordered; NULL = unlimited. Seeded and reset by catalog pushes:
-- `catalog_stock` is the catalog's number last applied, `available` = what remains after orders.
CREATE TABLE product_stock (
  project_id    text NOT NULL REFERENCES projects(id),
  product_id    text NOT NULL,
  catalog_stock integer,
  available     integer CHECK (available IS NULL OR available >= 0),
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (project_id, product_id)
);

CREATE TABLE cart_items (
  seq         bigserial,
  id          text PRIMARY KEY,
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  product_id  text NOT NULL,
  quantity    integer NOT NULL CHECK (quantity > 0 AND quantity <= 99),
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  UNIQUE (project_id, customer_id, product_id),
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);

CREATE TABLE orders (
  id            text PRIMARY KEY,
  project_id    text NOT NULL,
  customer_id   text NOT NULL,
  status        text NOT NULL CHECK (status IN ('pending', 'paid', 'fulfilled', 'canceled', 'refunded')),
  amount_total  bigint NOT NULL CHECK (amount_total >= 0),
  currency      text NOT NULL,
  -- Whether the order still holds its units (released on expiry, cancel or refund, exactly once).
  stock_reserved boolean NOT NULL DEFAULT true,
  payment_id    text,
  checkout_session_id text,
  cancel_reason text,
  metadata      jsonb NOT NULL DEFAULT '{}',
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL,
  paid_at       timestamptz,
  fulfilled_at  timestamptz,
  canceled_at   timestamptz,
  refunded_at   timestamptz,
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);
CREATE INDEX orders_customer ON orders(project_id, customer_id, created_at DESC, id DESC);
CREATE INDEX orders_due ON orders(expires_at) WHERE status = 'pending';

CREATE TABLE order_items (
  id          text PRIMARY KEY,
  order_id    text NOT NULL REFERENCES orders(id),
  project_id  text NOT NULL,
  product_id  text NOT NULL,
  name        text NOT NULL,
  unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
  currency    text NOT NULL,
  quantity    integer NOT NULL CHECK (quantity > 0),
  position    integer NOT NULL
);
CREATE INDEX order_items_order ON order_items(order_id, position);

-- Refunds of payments, made through our API or seen in a provider event; one row per provider refund.
CREATE TABLE refunds (
  seq          bigserial,
  id           text PRIMARY KEY,
  project_id   text NOT NULL,
  payment_id   text NOT NULL REFERENCES payments(id),
  amount       bigint NOT NULL CHECK (amount > 0),
  currency     text NOT NULL,
  status       text NOT NULL CHECK (status IN ('succeeded', 'pending', 'failed')),
  provider     text NOT NULL,
  provider_ref text NOT NULL,
  origin       text NOT NULL CHECK (origin IN ('api', 'provider')),
  details      jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL,
  UNIQUE (project_id, provider, provider_ref)
);
CREATE INDEX refunds_payment ON refunds(payment_id, seq);
