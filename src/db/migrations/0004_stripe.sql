-- Stripe: the catalog's Products and Prices at Stripe, one row per catalog item.
CREATE TABLE stripe_prices (
  project_id   text NOT NULL REFERENCES projects(id),
  kind         text NOT NULL CHECK (kind IN ('plan', 'pack', 'product')),
  item_id      text NOT NULL,
  lookup_key   text NOT NULL,
  product_ref  text NOT NULL,
  price_ref    text NOT NULL,
  name         text NOT NULL,
  amount       bigint NOT NULL,
  currency     text NOT NULL,
  interval     text,
  active       boolean NOT NULL DEFAULT true,
  synced_at    timestamptz NOT NULL,
  PRIMARY KEY (project_id, kind, item_id)
);
CREATE INDEX stripe_prices_price ON stripe_prices (project_id, price_ref);

-- Catalog pushes waiting for their Stripe sync (run after the push commits), and the reconcile cursor.
CREATE TABLE stripe_sync_state (
  project_id        text PRIMARY KEY REFERENCES projects(id),
  catalog_version   integer,
  sync_status       text NOT NULL DEFAULT 'idle' CHECK (sync_status IN ('idle', 'pending', 'failed')),
  sync_attempts     integer NOT NULL DEFAULT 0,
  sync_due_at       timestamptz,
  last_error        text,
  synced_at         timestamptz,
  events_cursor     bigint,
  reconcile_due_at  timestamptz
);
CREATE INDEX stripe_sync_due ON stripe_sync_state (sync_due_at) WHERE sync_status <> 'idle';
