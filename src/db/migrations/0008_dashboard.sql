-- Customer sessions (short-lived browser tokens for one customer), operators of the dashboard,
-- their sign-in sessions and the one-time first-run sign-in links. Tokens are stored hashed.

CREATE TABLE customer_sessions (
  id          text PRIMARY KEY,
  project_id  text NOT NULL REFERENCES projects(id),
  customer_id text NOT NULL,
  token_hash  text NOT NULL UNIQUE,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  FOREIGN KEY (project_id, customer_id) REFERENCES customers(project_id, id)
);
CREATE INDEX customer_sessions_expiry ON customer_sessions(expires_at);

CREATE TABLE operators (
  id            text PRIMARY KEY,
  email         text NOT NULL,
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL,
  last_login_at timestamptz
);
CREATE UNIQUE INDEX operators_email ON operators(lower(email));

CREATE TABLE operator_sessions (
  token_hash  text PRIMARY KEY,
  operator_id text NOT NULL REFERENCES operators(id),
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator_id);

CREATE TABLE operator_setup_tokens (
  token_hash  text PRIMARY KEY,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
