-- The entitlement stream's change log is written only while someone reads it. An SDK that opens
-- GET /v1/stream first takes a lease (POST /v1/stream/leases, renewed while the stream is open,
-- released on close; it lapses by itself a few minutes after the last renewal). The triggers of
-- 0025 (and any later trigger that reuses stream_log_customers) log a change only for a project
-- with a live lease, so a project that never streams pays one indexed lookup per statement instead
-- of a log row and a notification per changed customer. Leases run on the database's clock (now()),
-- not on a project's test clock.
CREATE TABLE stream_leases (
  project_id text NOT NULL,
  id         text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, id)
);
CREATE INDEX stream_leases_expiry ON stream_leases (project_id, expires_at);

CREATE OR REPLACE FUNCTION stream_log_customers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM stream_leases WHERE expires_at > now()) THEN RETURN NULL; END IF;
  FOR r IN INSERT INTO stream_changes (project_id, customer_id)
           SELECT DISTINCT c.project_id, c.customer_id FROM changed_rows c
           WHERE EXISTS (SELECT 1 FROM stream_leases l WHERE l.project_id = c.project_id AND l.expires_at > now())
           RETURNING project_id, customer_id, seq
  LOOP
    PERFORM pg_notify('tollgate_stream', json_build_object('p', r.project_id, 'c', r.customer_id, 's', r.seq)::text);
  END LOOP;
  RETURN NULL;
END $$;

-- Whether a project has erased any customer, answered from a tiny partial index (every request that
-- names a customer asks it, cached per project): most projects have none.
CREATE INDEX customers_erased ON customers (project_id) WHERE deleted_at IS NOT NULL;
