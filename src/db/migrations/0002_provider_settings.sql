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
