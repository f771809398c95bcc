-- When a key was last used: coarse access telemetry, written after the reply at most once per key
-- per few minutes (docs/api-keys.md). The only column a read may change (docs/dashboard.md).
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;

-- A rotated endpoint secret keeps signing (next to the new one) until it expires, so receivers
-- can switch without dropping a delivery (docs/webhooks-and-metrics.md).
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_encrypted text;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at timestamptz;
