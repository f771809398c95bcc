-- Plan credits that reset or roll over: an expiring grant remembers why it exists and, for a plan
-- that rolls unused credits over, which subscription's periods it belongs to and the carry cap.
ALTER TABLE credit_grants ADD COLUMN reason text;
ALTER TABLE credit_grants ADD COLUMN carry_source text;
ALTER TABLE credit_grants ADD COLUMN carry_cap bigint CHECK (carry_cap >= 0);
CREATE INDEX credit_grants_carry ON credit_grants(project_id, customer_id, carry_source, expires_at) WHERE carry_source IS NOT NULL AND expired_at IS NULL;

-- Auto top-up: one setting per customer; `running` is claimed by a conditional UPDATE so exactly
-- one top-up runs per customer at a time; `spent` counts this month's charges (cap reserved first).
CREATE TABLE credit_auto_top_ups (
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  enabled     boolean NOT NULL,
  threshold   bigint NOT NULL CHECK (threshold >= 0),
  pack_id     text NOT NULL,
  monthly_cap bigint NOT NULL CHECK (monthly_cap >= 0),
  month       text NOT NULL DEFAULT '',
  spent       bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
  running     boolean NOT NULL DEFAULT false,
  attempts    integer NOT NULL DEFAULT 0,
  last_error  text,
  disabled_at timestamptz,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, customer_id)
);

CREATE TABLE credit_top_ups (
  project_id      text NOT NULL,
  id              text NOT NULL,
  customer_id     text NOT NULL,
  pack_id         text NOT NULL,
  credits         bigint NOT NULL,
  amount          bigint NOT NULL,
  currency        text NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  idempotency_key text NOT NULL,
  failure_reason  text,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, idempotency_key)
);
