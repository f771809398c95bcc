-- Every key starts with project_id, so a project can be the distribution key of a sharded
-- deployment (Citus: distribution column project_id) and no key spans two projects.
-- Ids stay random (unique in practice); the keys that enforce them are per project. A plain index
-- on id (or on the hash of a token) keeps the lookups that do not know the project fast.
-- Global by nature, and left alone: projects (the tenant root: its id is the project id),
-- operators and their sessions/setup tokens (people of the installation), encryption_canaries
-- (the installation's keys), rate_limit_counters (unlogged counters) and schema_migrations.

-- 1. Foreign keys that point at a bare id go first; they come back composite below.
ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey;
ALTER TABLE refunds DROP CONSTRAINT refunds_payment_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_delivery_id_fkey;

-- 2. Tables keyed by a bare id: (project_id, id).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE cart_items DROP CONSTRAINT cart_items_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE checkout_sessions DROP CONSTRAINT checkout_sessions_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE credit_grants DROP CONSTRAINT credit_grants_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE customer_sessions DROP CONSTRAINT customer_sessions_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE order_items DROP CONSTRAINT order_items_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE payment_links DROP CONSTRAINT payment_links_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE payment_methods DROP CONSTRAINT payment_methods_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE payments DROP CONSTRAINT payments_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE portal_sessions DROP CONSTRAINT portal_sessions_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE provider_events DROP CONSTRAINT provider_events_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE refunds DROP CONSTRAINT refunds_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_pkey, ADD PRIMARY KEY (project_id, id);
CREATE INDEX api_keys_id ON api_keys(id);
CREATE INDEX cart_items_id ON cart_items(id);
CREATE INDEX checkout_sessions_id ON checkout_sessions(id);
CREATE INDEX credit_grants_id ON credit_grants(id);
CREATE INDEX credit_holds_id ON credit_holds(id);
CREATE INDEX customer_sessions_id ON customer_sessions(id);
CREATE INDEX order_items_id ON order_items(id);
CREATE INDEX orders_id ON orders(id);
CREATE INDEX payment_links_id ON payment_links(id);
CREATE INDEX payment_methods_id ON payment_methods(id);
CREATE INDEX payments_id ON payments(id);
CREATE INDEX portal_sessions_id ON portal_sessions(id);
CREATE INDEX provider_events_id ON provider_events(id);
CREATE INDEX refunds_id ON refunds(id);
CREATE INDEX subscriptions_id ON subscriptions(id);
CREATE INDEX webhook_deliveries_id ON webhook_deliveries(id);
CREATE INDEX webhook_endpoints_id ON webhook_endpoints(id);

-- 3. Append-only tables keyed by a sequence: (project_id, seq), their ids unique per project.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_pkey, ADD PRIMARY KEY (project_id, seq);
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_id_key, ADD UNIQUE (project_id, id);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey, ADD PRIMARY KEY (project_id, seq);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_id_key, ADD UNIQUE (project_id, id);
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_pkey, ADD PRIMARY KEY (project_id, seq);
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_id_key, ADD UNIQUE (project_id, id);
ALTER TABLE vault_secrets DROP CONSTRAINT vault_secrets_pkey, ADD PRIMARY KEY (project_id, seq);
ALTER TABLE vault_secrets DROP CONSTRAINT vault_secrets_id_key, ADD UNIQUE (project_id, id);
CREATE INDEX outbox_events_id ON outbox_events(id);
CREATE INDEX outbox_events_seq ON outbox_events(seq);
CREATE INDEX vault_secrets_id ON vault_secrets(id);
CREATE INDEX vault_secrets_seq ON vault_secrets(seq);

-- 4. Unique keys that spanned projects.
DROP INDEX checkout_sessions_ref;
CREATE UNIQUE INDEX checkout_sessions_ref ON checkout_sessions(project_id, provider, provider_ref) WHERE provider_ref IS NOT NULL;
DROP INDEX subscriptions_provider_ref;
CREATE UNIQUE INDEX subscriptions_provider_ref ON subscriptions(project_id, provider, provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX subscriptions_ref_lookup ON subscriptions(provider, provider_ref) WHERE provider_ref IS NOT NULL;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_key_hash_key, ADD UNIQUE (project_id, key_hash);
CREATE INDEX api_keys_hash ON api_keys(key_hash);
ALTER TABLE customer_sessions DROP CONSTRAINT customer_sessions_token_hash_key, ADD UNIQUE (project_id, token_hash);
CREATE INDEX customer_sessions_hash ON customer_sessions(token_hash);
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_event_id_key, ADD UNIQUE (project_id, endpoint_id, event_id);

-- 5. webhook_attempts carries its project like every other table.
ALTER TABLE webhook_attempts ADD COLUMN project_id text;
UPDATE webhook_attempts a SET project_id = d.project_id FROM webhook_deliveries d WHERE d.id = a.delivery_id;
ALTER TABLE webhook_attempts ALTER COLUMN project_id SET NOT NULL;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_pkey, ADD PRIMARY KEY (project_id, seq);

-- 6. The foreign keys again, within the project.
ALTER TABLE order_items ADD FOREIGN KEY (project_id, order_id) REFERENCES orders(project_id, id);
ALTER TABLE refunds ADD FOREIGN KEY (project_id, payment_id) REFERENCES payments(project_id, id);
ALTER TABLE webhook_deliveries ADD FOREIGN KEY (project_id, endpoint_id) REFERENCES webhook_endpoints(project_id, id);
ALTER TABLE webhook_deliveries ADD FOREIGN KEY (project_id, event_id) REFERENCES outbox_events(project_id, id);
ALTER TABLE webhook_attempts ADD FOREIGN KEY (project_id, delivery_id) REFERENCES webhook_deliveries(project_id, id);
