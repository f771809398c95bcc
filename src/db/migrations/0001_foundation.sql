-- Foundation: projects, keys, catalog, customers, credits ledger and holds, idempotency,
-- checkout sessions, payments, the provider-event inbox, the outbox and the audit log.

CREATE TABLE projects (
  id              text PRIMARY KEY,
  name            text NOT NULL,
  default_provider text NOT NULL DEFAULT 'sandbox',
  sandbox_webhook_secret text NOT NULL,
  clock_offset_ms bigint NOT NULL DEFAULT 0,
  cors_origins    text[] NOT NULL DEFAULT '{}',
  catalog_version integer NOT NULL DEFAULT 0,
  settings        jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  project_id  text NOT NULL REFERENCES projects(id),
  kind        text NOT NULL CHECK (kind IN ('secret', 'publishable')),
  key_hash    text NOT NULL UNIQUE,
  preview     text NOT NULL,
  scopes      text[] NOT NULL,
  name        text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_project ON api_keys(project_id);

CREATE TABLE catalogs (
  project_id  text NOT NULL REFERENCES projects(id),
  version     integer NOT NULL,
  document    jsonb NOT NULL,
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, version)
);

CREATE TABLE customers (
  project_id  text NOT NULL REFERENCES projects(id),
  id          text NOT NULL,
  email       text,
  name        text,
  metadata    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, id)
);
CREATE INDEX customers_email ON customers(project_id, lower(email));

-- The cached balance; the ledger below is the truth it must always equal.
CREATE TABLE credit_accounts (
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
  held        bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, customer_id),
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id),
  CHECK (held <= balance)
);

-- Append-only: entries are never updated or deleted, only reversed by new entries.
CREATE TABLE ledger_entries (
  seq           bigserial PRIMARY KEY,
  id            text NOT NULL UNIQUE,
  project_id    text NOT NULL,
  customer_id   text NOT NULL,
  amount        bigint NOT NULL CHECK (amount <> 0),
  balance_after bigint NOT NULL CHECK (balance_after >= 0),
  kind          text NOT NULL,
  reason        text,
  source_id     text,
  metadata      jsonb,
  expires_at    timestamptz,
  created_at    timestamptz NOT NULL
);
CREATE INDEX ledger_customer ON ledger_entries(project_id, customer_id, seq DESC);
-- One effect per source: a purchase per checkout session, sign-up credits once, etc.
CREATE UNIQUE INDEX ledger_once ON ledger_entries(project_id, customer_id, kind, source_id) WHERE source_id IS NOT NULL;

CREATE OR REPLACE FUNCTION tollgate_ledger_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger entries are append-only';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION tollgate_ledger_append_only();

-- Expiring grants: what is left of each, consumed before non-expiring credits.
CREATE TABLE credit_grants (
  id          text PRIMARY KEY,
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  amount      bigint NOT NULL CHECK (amount > 0),
  remaining   bigint NOT NULL CHECK (remaining >= 0),
  expires_at  timestamptz NOT NULL,
  expired_at  timestamptz,
  created_at  timestamptz NOT NULL
);
CREATE INDEX credit_grants_due ON credit_grants(expires_at) WHERE expired_at IS NULL;
CREATE INDEX credit_grants_customer ON credit_grants(project_id, customer_id) WHERE expired_at IS NULL;

CREATE TABLE credit_holds (
  id              text PRIMARY KEY,
  project_id      text NOT NULL,
  customer_id     text NOT NULL,
  amount          bigint NOT NULL CHECK (amount > 0),
  status          text NOT NULL CHECK (status IN ('held', 'captured', 'released', 'expired')),
  captured_amount bigint,
  reason          text,
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL,
  closed_at       timestamptz
);
CREATE INDEX credit_holds_due ON credit_holds(expires_at) WHERE status = 'held';

CREATE TABLE idempotency_keys (
  project_id    text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  status_code   integer,
  response      jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);

CREATE TABLE checkout_sessions (
  id              text PRIMARY KEY,
  project_id      text NOT NULL,
  customer_id     text,
  provider        text NOT NULL,
  mode            text NOT NULL CHECK (mode IN ('payment', 'subscription')),
  item_type       text NOT NULL CHECK (item_type IN ('credit_pack', 'plan', 'order')),
  item_id         text NOT NULL,
  quantity        integer NOT NULL DEFAULT 1,
  amount          bigint NOT NULL,
  currency        text NOT NULL,
  status          text NOT NULL CHECK (status IN ('open', 'complete', 'expired')),
  payment_status  text NOT NULL DEFAULT 'unpaid',
  success_url     text NOT NULL,
  cancel_url      text NOT NULL,
  trial_days      integer,
  promotion_code  text,
  provider_ref    text,
  provider_url    text,
  payment_link_id text,
  customer_email  text,
  details         jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  completed_at    timestamptz
);
CREATE INDEX checkout_sessions_project ON checkout_sessions(project_id, created_at DESC);
CREATE UNIQUE INDEX checkout_sessions_ref ON checkout_sessions(provider, provider_ref) WHERE provider_ref IS NOT NULL;

CREATE TABLE payments (
  id              text PRIMARY KEY,
  project_id      text NOT NULL,
  customer_id     text,
  amount          bigint NOT NULL CHECK (amount >= 0),
  amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
  currency        text NOT NULL,
  status          text NOT NULL CHECK (status IN ('succeeded', 'failed', 'refunded', 'partially_refunded')),
  provider        text NOT NULL,
  provider_ref    text NOT NULL,
  kind            text NOT NULL,
  item_id         text,
  checkout_session_id text,
  subscription_id text,
  order_id        text,
  period_start    timestamptz,
  period_end      timestamptz,
  failure_reason  text,
  details         jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL,
  UNIQUE (project_id, provider, provider_ref)
);
CREATE INDEX payments_project ON payments(project_id, created_at DESC);
CREATE INDEX payments_customer ON payments(project_id, customer_id, created_at DESC);

-- Saved payment methods (sandbox test cards; provider references for the others).
CREATE TABLE payment_methods (
  id           text PRIMARY KEY,
  project_id   text NOT NULL,
  customer_id  text NOT NULL,
  provider     text NOT NULL,
  brand        text NOT NULL,
  last4        text NOT NULL,
  token        text NOT NULL,
  is_default   boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL
);
CREATE INDEX payment_methods_customer ON payment_methods(project_id, customer_id);

-- The inbox: every verified provider event, stored once by (provider, event id).
CREATE TABLE provider_events (
  id            text PRIMARY KEY,
  project_id    text NOT NULL,
  provider      text NOT NULL,
  event_id      text NOT NULL,
  type          text NOT NULL,
  payload       jsonb NOT NULL,
  status        text NOT NULL CHECK (status IN ('pending', 'processed', 'failed', 'ignored')),
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  occurred_at   timestamptz,
  received_at   timestamptz NOT NULL,
  processed_at  timestamptz,
  next_attempt_at timestamptz,
  UNIQUE (project_id, provider, event_id)
);
CREATE INDEX provider_events_retry ON provider_events(next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX provider_events_project ON provider_events(project_id, received_at DESC);

-- The outbox: events for the app's own webhook endpoints, written in the transaction that caused them.
CREATE TABLE outbox_events (
  seq          bigserial PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  project_id   text NOT NULL,
  type         text NOT NULL,
  customer_id  text,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL,
  dispatched_at timestamptz
);
CREATE INDEX outbox_pending ON outbox_events(seq) WHERE dispatched_at IS NULL;

-- Administrative changes; append-only.
CREATE TABLE audit_log (
  seq          bigserial PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  project_id   text NOT NULL,
  actor        text NOT NULL,
  action       text NOT NULL,
  customer_id  text,
  target       text,
  details      jsonb NOT NULL DEFAULT '{}',
  ip           text,
  created_at   timestamptz NOT NULL
);
CREATE INDEX audit_project ON audit_log(project_id, seq DESC);
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION tollgate_ledger_append_only();

-- Accounts with live expiring grants take the locked path so grants are consumed in expiry order.
ALTER TABLE credit_accounts ADD COLUMN expiring_grants integer NOT NULL DEFAULT 0 CHECK (expiring_grants >= 0);
