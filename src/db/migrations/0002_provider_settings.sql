-- Per-project provider settings (Stripe, PayPal): the secret parts encrypted at rest.
CREATE TABLE provider_settings (
  project_id  text NOT NULL REFERENCES projects(id),
  provider    text NOT NULL,
  config_encrypted text NOT NULL,
  preview     jsonb NOT NULL DEFAULT '{}',
  mode        text NOT NULL DEFAULT 'test' CHECK (mode IN ('test', 'live')),
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, provider)
);

-- A Tollgate customer's identity at a provider (Stripe customer id, PayPal payer id).
CREATE TABLE provider_customers (
  project_id   text NOT NULL,
  customer_id  text NOT NULL,
  provider     text NOT NULL,
  ref          text NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (project_id, customer_id, provider),
  UNIQUE (project_id, provider, ref),
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);
