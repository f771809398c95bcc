-- Team balances: an organisation (a customer) whose members (the app's own user ids) spend from its
-- balance, each within an optional limit per day or month (UTC, project clock).
CREATE TABLE organization_members (
  project_id      text NOT NULL,
  organization_id text NOT NULL,
  member_id       text NOT NULL,
  spend_limit     bigint CHECK (spend_limit IS NULL OR spend_limit >= 0),
  limit_period    text CHECK (limit_period IN ('day', 'month')),
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  PRIMARY KEY (project_id, organization_id, member_id),
  FOREIGN KEY (project_id, organization_id) REFERENCES customers (project_id, id),
  CHECK ((spend_limit IS NULL) = (limit_period IS NULL))
);

-- What each member spent in each period: the conditional upsert that enforces the limit.
CREATE TABLE organization_member_spend (
  project_id      text NOT NULL,
  organization_id text NOT NULL,
  member_id       text NOT NULL,
  period_start    timestamptz NOT NULL,
  spent           bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
  PRIMARY KEY (project_id, organization_id, member_id, period_start)
);
