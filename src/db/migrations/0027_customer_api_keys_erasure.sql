-- Erasure: a deleted customer keeps its row (ledger entries, payments and invoices still name it),
-- pseudonymous: e-mail, name and metadata are cleared and deleted_at is set.
ALTER TABLE customers ADD COLUMN deleted_at timestamptz;

-- The app's own API keys for its customers (docs/api-keys.md). Only the SHA-256 of a key is stored;
-- verify finds a key by (project_id, key_hash) in one indexed lookup.
CREATE TABLE customer_api_keys (
  project_id                text NOT NULL REFERENCES projects(id),
  id                        text NOT NULL,
  customer_id               text NOT NULL,
  key_hash                  text NOT NULL,
  preview                   text NOT NULL,
  name                      text,
  scopes                    text[] NOT NULL DEFAULT '{}',
  expires_at                timestamptz,
  rate_limit                integer CHECK (rate_limit > 0),
  rate_limit_window_seconds integer CHECK (rate_limit_window_seconds > 0),
  -- Verifications left; NULL = unlimited. Each valid verify takes one, atomically.
  remaining                 bigint CHECK (remaining >= 0),
  -- Issued by a payment or subscription start because the catalog says so (once per customer).
  auto_issued               boolean NOT NULL DEFAULT false,
  -- The key a roll replaced this one with (this one then expires at the end of the grace period).
  rolled_to                 text,
  created_at                timestamptz NOT NULL,
  revoked_at                timestamptz,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, key_hash),
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);
CREATE INDEX customer_api_keys_customer ON customer_api_keys(project_id, customer_id, created_at);
CREATE UNIQUE INDEX customer_api_keys_auto ON customer_api_keys(project_id, customer_id) WHERE auto_issued;

-- The audit log stays append-only, with one exception: a customer's erasure may redact an entry's
-- details (copies of the erased personal values), in a transaction that set tollgate.erasure = 'on'.
-- Who did what, to whom and when never changes.
CREATE OR REPLACE FUNCTION tollgate_audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('tollgate.erasure', true) = 'on'
     AND NEW.seq = OLD.seq AND NEW.id = OLD.id AND NEW.project_id = OLD.project_id AND NEW.actor = OLD.actor
     AND NEW.action = OLD.action AND NEW.customer_id IS NOT DISTINCT FROM OLD.customer_id
     AND NEW.target IS NOT DISTINCT FROM OLD.target AND NEW.ip IS NOT DISTINCT FROM OLD.ip AND NEW.created_at = OLD.created_at THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit entries are append-only (an erasure may only redact their details)';
END $$ LANGUAGE plpgsql;
DROP TRIGGER audit_no_update ON audit_log;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION tollgate_audit_append_only();
