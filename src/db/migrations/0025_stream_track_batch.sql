-- Entitlement stream (GET /v1/stream): one version row per customer whose decision inputs changed
-- (usage counters, credit account, subscription), plus the row with customer_id '' for a change that
-- concerns every customer of the project (a catalog push, a test-clock move). Written by triggers in
-- the changing transaction, which also pg_notify 'tollgate_stream' (delivered at commit); streams
-- resume and poll by seq. One row per customer: nothing to prune.
CREATE SEQUENCE stream_seq;

CREATE TABLE stream_versions (
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  seq         bigint NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (project_id, customer_id)
);
CREATE INDEX stream_versions_by_seq ON stream_versions (project_id, seq);

CREATE FUNCTION stream_touch(p text, c text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s bigint;
BEGIN
  -- The seq of an update is drawn after the row lock is taken, so a customer's versions only grow.
  INSERT INTO stream_versions AS v (project_id, customer_id, seq) VALUES (p, c, nextval('stream_seq'))
  ON CONFLICT (project_id, customer_id) DO UPDATE SET seq = nextval('stream_seq'), changed_at = clock_timestamp()
  RETURNING v.seq INTO s;
  PERFORM pg_notify('tollgate_stream', json_build_object('p', p, 'c', c, 's', s)::text);
END $$;

CREATE FUNCTION stream_touch_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM stream_touch(OLD.project_id, OLD.customer_id);
  ELSE
    PERFORM stream_touch(NEW.project_id, NEW.customer_id);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION stream_touch_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'projects' THEN
    PERFORM stream_touch(NEW.id, '');
  ELSE
    PERFORM stream_touch(NEW.project_id, '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER stream_usage_counters AFTER INSERT OR UPDATE OR DELETE ON usage_counters
  FOR EACH ROW EXECUTE FUNCTION stream_touch_customer();
CREATE TRIGGER stream_credit_accounts AFTER INSERT OR UPDATE OR DELETE ON credit_accounts
  FOR EACH ROW EXECUTE FUNCTION stream_touch_customer();
CREATE TRIGGER stream_subscriptions AFTER INSERT OR UPDATE OR DELETE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION stream_touch_customer();
CREATE TRIGGER stream_catalogs AFTER INSERT ON catalogs
  FOR EACH ROW EXECUTE FUNCTION stream_touch_project();
CREATE TRIGGER stream_project_clock AFTER UPDATE OF clock_offset_ms ON projects
  FOR EACH ROW WHEN (OLD.clock_offset_ms IS DISTINCT FROM NEW.clock_offset_ms) EXECUTE FUNCTION stream_touch_project();

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
