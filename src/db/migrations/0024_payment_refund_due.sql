-- A payment Tollgate must give back (its order was paid after the stock was gone, after a cancel, or
-- twice) is refunded through its provider: when the next attempt is due (project time), NULL once
-- refunded or when nothing is left to refund.
ALTER TABLE payments ADD COLUMN refund_due_at timestamptz;
CREATE INDEX payments_refund_due ON payments(refund_due_at) WHERE refund_due_at IS NOT NULL;
