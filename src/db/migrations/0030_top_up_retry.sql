-- A top-up cut by a crash between its claim and its outcome is taken up again by the
-- credits.resume-top-ups job once retry_at (project clock) has passed, with the same idempotency key.
ALTER TABLE credit_top_ups ADD COLUMN retry_at timestamptz;
UPDATE credit_top_ups SET retry_at = created_at WHERE status = 'pending';
CREATE INDEX credit_top_ups_pending ON credit_top_ups (retry_at) WHERE status = 'pending';
