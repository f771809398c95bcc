-- Whether a subscription Tollgate bills has VAT added on top of its price at each charge
-- (`exclusive`) or included in it (`inclusive`): frozen when the subscription starts.
ALTER TABLE subscriptions ADD COLUMN tax_behavior text NOT NULL DEFAULT 'inclusive' CHECK (tax_behavior IN ('inclusive', 'exclusive'));
