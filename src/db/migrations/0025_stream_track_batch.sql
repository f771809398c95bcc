-- Entitlement stream (GET /v1/stream): an append-only log of which customers' decision inputs changed
-- (usage counters, credit account, subscription), with customer_id '' for a change that concerns every
-- customer of the project (a catalog push, a test-clock move). Written by triggers in the changing
-- transaction, which also pg_notify 'tollgate_stream' (delivered at commit, never for a rollback).
-- Append-only on purpose: no row is shared between writers, so it adds no lock to the changes it logs.
-- Streams resume and poll by seq; the stream.prune job keeps 15 minutes and records up to where it
-- pruned (stream_horizons), so a resume from before that is told to start again (reset).
CREATE SEQUENCE stream_seq;

CREATE TABLE stream_changes (
  project_id  text NOT NULL,
  seq         bigint NOT NULL DEFAULT nextval('stream_seq'),
  customer_id text NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (project_id, seq)
);
CREATE INDEX stream_changes_customer ON stream_changes (project_id, customer_id, seq);
CREATE INDEX stream_changes_age ON stream_changes (changed_at);

CREATE TABLE stream_horizons (
  project_id text PRIMARY KEY,
  pruned_to  bigint NOT NULL
);

-- Statement-level, over the transition table: one log row per customer a statement changed.
CREATE FUNCTION stream_log_customers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN INSERT INTO stream_changes (project_id, customer_id)
           SELECT DISTINCT project_id, customer_id FROM changed_rows
           RETURNING project_id, customer_id, seq
  LOOP
    PERFORM pg_notify('tollgate_stream', json_build_object('p', r.project_id, 'c', r.customer_id, 's', r.seq)::text);
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION stream_log_project() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p text; s bigint;
BEGIN
  IF TG_TABLE_NAME = 'projects' THEN p := NEW.id; ELSE p := NEW.project_id; END IF;
  INSERT INTO stream_changes (project_id, customer_id) VALUES (p, '') RETURNING seq INTO s;
  PERFORM pg_notify('tollgate_stream', json_build_object('p', p, 'c', '', 's', s)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER stream_usage_counters_ins AFTER INSERT ON usage_counters
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_usage_counters_upd AFTER UPDATE ON usage_counters
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_usage_counters_del AFTER DELETE ON usage_counters
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_credit_accounts_ins AFTER INSERT ON credit_accounts
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_credit_accounts_upd AFTER UPDATE ON credit_accounts
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_credit_accounts_del AFTER DELETE ON credit_accounts
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_subscriptions_ins AFTER INSERT ON subscriptions
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_subscriptions_upd AFTER UPDATE ON subscriptions
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_subscriptions_del AFTER DELETE ON subscriptions
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_catalogs AFTER INSERT ON catalogs
  FOR EACH ROW EXECUTE FUNCTION stream_log_project();
CREATE TRIGGER stream_project_clock AFTER UPDATE OF clock_offset_ms ON projects
  FOR EACH ROW WHEN (OLD.clock_offset_ms IS DISTINCT FROM NEW.clock_offset_ms) EXECUTE FUNCTION stream_log_project();

-- POST /v1/track/batch: one row per recorded event, so a resent event is a duplicate, never counted twice
-- (kept 90 days; the usage.purge-events job forgets older ones).
CREATE TABLE usage_events (
  project_id  text NOT NULL,
  event_id    text NOT NULL,
  customer_id text NOT NULL,
  feature     text NOT NULL,
  quantity    numeric NOT NULL,
  occurred_at timestamptz,
  recorded_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, event_id)
);
CREATE INDEX usage_events_recorded ON usage_events (recorded_at);
