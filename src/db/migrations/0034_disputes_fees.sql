-- Disputes (chargebacks) of a payment, as the provider reports them (docs/disputes.md): one row per
-- provider dispute; what Tollgate held or took back of what the payment bought is kept beside it.
CREATE TABLE disputes (
  project_id        text NOT NULL,
  id                text NOT NULL,
  provider          text NOT NULL,
  provider_ref      text NOT NULL,
  payment_id        text NOT NULL,
  customer_id       text,
  amount            bigint NOT NULL CHECK (amount >= 0),
  currency          text NOT NULL,
  reason            text,
  status            text NOT NULL CHECK (status IN ('needs_response', 'under_review', 'won', 'lost')),
  provider_status   text,
  -- The project's settings.disputes.on_open when the dispute opened: hold | claw_back | none.
  on_open           text NOT NULL CHECK (on_open IN ('hold', 'claw_back', 'none')),
  credits_requested bigint NOT NULL DEFAULT 0,
  credits_held      bigint NOT NULL DEFAULT 0,
  credits_reversed  bigint NOT NULL DEFAULT 0,
  credits_shortfall bigint NOT NULL DEFAULT 0,
  subscription_id   text,
  evidence_due_by   timestamptz,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  closed_at         timestamptz,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, provider, provider_ref)
);
CREATE INDEX disputes_payment ON disputes (project_id, payment_id);
CREATE INDEX disputes_customer ON disputes (project_id, customer_id, created_at DESC);
CREATE INDEX disputes_list ON disputes (project_id, created_at DESC, id DESC);

-- The provider's fee for a payment and what it leaves (docs/webhooks-and-metrics.md), in the fee's
-- currency; fee_due_at (wall clock) marks a payment whose fee the payments.fees job still has to read.
ALTER TABLE payments ADD COLUMN fee_amount bigint CHECK (fee_amount >= 0);
ALTER TABLE payments ADD COLUMN fee_currency text;
ALTER TABLE payments ADD COLUMN net_amount bigint;
ALTER TABLE payments ADD COLUMN fee_due_at timestamptz;
ALTER TABLE payments ADD COLUMN fee_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX payments_fee_due ON payments (project_id, fee_due_at) WHERE fee_due_at IS NOT NULL;
ALTER TABLE payments ADD COLUMN dispute_id text;
ALTER TABLE payments ADD COLUMN dispute_status text;
