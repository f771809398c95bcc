-- Plan credits that reset or roll over: an expiring grant remembers why it exists and, for a plan
-- that rolls unused credits over, which subscription's periods it belongs to and the carry cap.
ALTER TABLE credit_grants ADD COLUMN reason text;
ALTER TABLE credit_grants ADD COLUMN carry_source text;
ALTER TABLE credit_grants ADD COLUMN carry_cap bigint CHECK (carry_cap >= 0);
CREATE INDEX credit_grants_carry ON credit_grants(project_id, customer_id, carry_source, expires_at) WHERE carry_source IS NOT NULL AND expired_at IS NULL;
