-- The vault: customers' own third-party keys and the project's platform keys, encrypted at rest.
-- customer_id NULL = a platform key of the project (the fallback `resolve` answers).
CREATE TABLE vault_secrets (
  seq              bigserial PRIMARY KEY,
  id               text NOT NULL UNIQUE,
  project_id       text NOT NULL REFERENCES projects(id),
  customer_id      text,
  name             text NOT NULL,
  value_encrypted  text NOT NULL,
  key_id           text NOT NULL,
  preview          text NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);
CREATE UNIQUE INDEX vault_secrets_customer ON vault_secrets(project_id, customer_id, name) WHERE customer_id IS NOT NULL;
CREATE UNIQUE INDEX vault_secrets_platform ON vault_secrets(project_id, name) WHERE customer_id IS NULL;
-- `tollgate vault rotate` and the start-up check look for rows not under the newest key.
CREATE INDEX vault_secrets_key ON vault_secrets(key_id, seq);

-- One known plaintext per encryption key id: at start-up a configured key must decrypt its canary,
-- so a wrong key is a clear error rather than undecryptable secrets later.
CREATE TABLE encryption_canaries (
  key_id      text PRIMARY KEY,
  ciphertext  text NOT NULL,
  created_at  timestamptz NOT NULL
);

-- A customer's profile, settings and onboarding state (the customers row keeps id, email, name, metadata).
CREATE TABLE customer_profiles (
  project_id        text NOT NULL,
  customer_id       text NOT NULL,
  organization      text,
  industry          text,
  timezone          text,
  locale            text,
  marketing_opt_in  boolean,
  terms_accepted_at timestamptz,
  settings          jsonb NOT NULL DEFAULT '{}',
  -- {"<step id>": {"status": "completed" | "skipped", "at": "<iso time>"}}
  onboarding_steps  jsonb NOT NULL DEFAULT '{}',
  onboarding_completed_at timestamptz,
  updated_at        timestamptz NOT NULL,
  PRIMARY KEY (project_id, customer_id),
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);

-- Fixed-window request counters (used when Redis is not configured): one row per key or customer,
-- reset in place when the window moves on. UNLOGGED: losing counts in a crash is harmless and it
-- keeps the per-request upsert out of the WAL.
CREATE UNLOGGED TABLE rate_limit_counters (
  bucket        text PRIMARY KEY,
  window_start  bigint NOT NULL,
  count         integer NOT NULL
);

CREATE INDEX audit_customer ON audit_log(project_id, customer_id, seq DESC) WHERE customer_id IS NOT NULL;
