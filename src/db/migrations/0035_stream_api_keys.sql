-- The SDK verifies customer API keys from a local cache kept fresh by the entitlement stream
-- (docs/api-keys.md "Verifying in-process"): a change to a customer's keys (issued, rolled, revoked,
-- a budget taken, an erasure) logs the customer in stream_changes like any other change of its
-- decision inputs, with the same statement-level function, in the changing transaction.
CREATE TRIGGER stream_customer_api_keys_ins AFTER INSERT ON customer_api_keys
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_customer_api_keys_upd AFTER UPDATE ON customer_api_keys
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
CREATE TRIGGER stream_customer_api_keys_del AFTER DELETE ON customer_api_keys
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_log_customers();
