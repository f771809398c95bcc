-- Outgoing webhooks: the app's endpoints, one delivery per (endpoint, outbox event), every attempt logged.

CREATE TABLE webhook_endpoints (
  id               text PRIMARY KEY,
  project_id       text NOT NULL REFERENCES projects(id),
  url              text NOT NULL,
  -- Event types, or '*' for all of them except the opt-in high-volume 'credits.deducted'.
  events           text[] NOT NULL,
  enabled          boolean NOT NULL DEFAULT true,
  description      text,
  secret_encrypted text NOT NULL,
  -- Why the endpoint was switched off by delivery (a 410), null when enabled or disabled by hand.
  disabled_reason  text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  deleted_at       timestamptz
);
CREATE INDEX webhook_endpoints_project ON webhook_endpoints(project_id, created_at DESC) WHERE deleted_at IS NULL;

-- The webhook-id sent with a delivery is its outbox event id: the same across retries and redeliveries.
CREATE TABLE webhook_deliveries (
  id               text PRIMARY KEY,
  project_id       text NOT NULL,
  endpoint_id      text NOT NULL REFERENCES webhook_endpoints(id),
  event_id         text NOT NULL REFERENCES outbox_events(id),
  event_type       text NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  -- Attempts made so far, and the position in the retry schedule (reset by a manual redelivery).
  attempts         integer NOT NULL DEFAULT 0,
  retry_step       integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  last_status_code integer,
  last_error       text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at DESC);

CREATE TABLE webhook_attempts (
  seq              bigserial PRIMARY KEY,
  delivery_id      text NOT NULL REFERENCES webhook_deliveries(id),
  attempt          integer NOT NULL,
  url              text NOT NULL,
  status_code      integer,
  duration_ms      integer NOT NULL,
  error            text,
  response_excerpt text,
  created_at       timestamptz NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, seq);
